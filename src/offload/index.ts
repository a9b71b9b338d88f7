/**
 * Public surface of `offload/`: the client-facing wire helpers (also for the offload bridge) and
 * the device emulator.
 */
export { isZeroSessionId, numericIdToUuid, parseSessionId, uuidToNumericId, UINT64_MAX, type ParsedSessionId } from "./session-id.js";
export { ipv4FromWire, ipv4ToBytes, ipv4ToWire, ipv4WireToBytes, ipv6FromBytes, ipv6ToBytes, type Ipv4ByteOrder } from "./ip-address.js";
export { manualClock, systemClock, type Clock, type ManualClock } from "./sim/clock.js";
export { DEFAULT_SIM_CONFIG, resolveSimConfig, type SimConfig, type SimConfigInput, type TrafficConfig } from "./sim/config.js";
export { seededRandom, type Random } from "./sim/prng.js";
export { SessionTable, SessionTableError, V1_CURSOR_PAGE_MAX, type OpiListArgs, type SessionPage, type V1ListArgs } from "./sim/session-table.js";
export { createOffloadDevice, type OffloadDevice } from "./sim/device.js";
export { createOffloadSimServer, offloadSimRoutes, type OffloadSimServer, type OffloadSimServerOptions } from "./sim/server.js";
export * from "./sim/types.js";
export { registerOffloadSimCommand } from "./sim-command.js";
