/**
 * Public surface of `offload/bridge/`: device sessions become Flows (DESIGN.md §6,
 * docs/offload-bridge.md).
 */
export { createOffloadBridge, type DevicePollResult, type OffloadBridge, type OffloadBridgeDeps } from "./bridge.js";
export { BRIDGE_DEFAULTS, parseDeviceSpec, type BridgeConfig, type CollectorAuth, type DeviceConfig } from "./config.js";
export { createCollectorStream, NODE_HEADER, type CollectorStream } from "./collector-stream.js";
export { createDeviceReader, DeviceGarbageError, fromOpiResponse, fromV1Response, type DeviceReader } from "./device-reader.js";
export { INT64_MAX, mergeFlows, toFlowUpdate } from "./flow-batch.js";
export { labelStrings, mapAction, mapSession, networkName, protoName, type MapContext, type MappedFlow } from "./flow-mapper.js";
export { offloadBridgeMetrics, type OffloadBridgeMetrics } from "./metrics.js";
export { ReplayCache } from "./replay-cache.js";
export { createSessionCatalog, type SessionCatalog } from "./session-catalog.js";
export { createSessionTap, describeOpiRequest, describeV1Request, type SessionTap } from "./session-tap.js";
export { SessionTracker, type PollOutcome, type SessionDelta } from "./session-tracker.js";
export * from "./types.js";
