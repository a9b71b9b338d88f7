/**
 * Configuration of the device emulator: one frozen object, defaults in one place (STYLE.md §5).
 */

/** How simulated traffic moves counters and ends sessions. Probabilities are per second. */
export interface TrafficConfig {
  /** Simulation step. Counters of every active session move once per tick. */
  tickMs: number;
  /** Each session draws its packet rate per direction from this range (packets per second). */
  packetsPerSec: readonly [min: number, max: number];
  /** Each tick draws the size of that tick's packets from this range (bytes). */
  bytesPerPacket: readonly [min: number, max: number];
  /** Chance per second that an active TCP session starts an orderly close (FIN, FIN, then CLOSED). */
  finPerSec: number;
  /** Chance per second that an active TCP session is reset (CLOSED at once, `_RST`). */
  rstPerSec: number;
  /**
   * Chance per second that an active session (TCP or UDP) stops sending. An idle session ages out
   * with `_TIMEOUT` after its cache timeout. 0 by default, so that by default every open session's
   * counters move at least once per tick.
   */
  idlePerSec: number;
}

/** Emulator core settings. */
export interface SimConfig {
  /** Maximum number of entries, CLOSED-but-not-drained ones included. */
  capacity: number;
  /** Seed of the traffic generator. */
  seed: number;
  /** Idle timeout for sessions that send `cachetimeout = 0`, in seconds. */
  defaultCacheTimeoutSec: number;
  /** Larger `cachetimeout` values are clamped to this, in seconds. */
  maxCacheTimeoutSec: number;
  /** Page cap of the OPI GetAllSession (the seed has no page-size input). */
  maxPageSize: number;
  /** Reject a session whose 7-tuple is already in the table (as well as a duplicate id). */
  tupleDedup: boolean;
  /** The table never replays more ticks than this at once; the rest are skipped (and counted). */
  maxCatchUpTicks: number;
  traffic: TrafficConfig;
}

/** Defaults (reference offload-frostfs.md §2.2, §2.7; NVIDIA's default idle timeout is 10 s). */
export const DEFAULT_SIM_CONFIG: Readonly<SimConfig> = Object.freeze({
  capacity: 65536,
  seed: 1,
  defaultCacheTimeoutSec: 30,
  maxCacheTimeoutSec: 3600,
  maxPageSize: 1000,
  tupleDedup: true,
  maxCatchUpTicks: 3600,
  traffic: Object.freeze({
    tickMs: 1000,
    packetsPerSec: Object.freeze([1, 100] as const),
    bytesPerPacket: Object.freeze([64, 1500] as const),
    finPerSec: 0.002,
    rstPerSec: 0.0005,
    idlePerSec: 0,
  }),
});

/** A partial configuration, merged over the defaults by {@link resolveSimConfig}. */
export type SimConfigInput = Partial<Omit<SimConfig, "traffic">> & { traffic?: Partial<TrafficConfig> };

/**
 * Merges `input` over the defaults, validates every field and deep-freezes the result. Throws a
 * RangeError naming the field and value.
 */
export function resolveSimConfig(input: SimConfigInput = {}): Readonly<SimConfig> {
  const c: SimConfig = {
    ...DEFAULT_SIM_CONFIG,
    ...input,
    traffic: { ...DEFAULT_SIM_CONFIG.traffic, ...input.traffic },
  };
  const int = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name}: must be an integer >= ${min} and <= ${max}, got ${v}`);
  };
  const prob = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name}: must be a probability in [0, 1], got ${v}`);
  };
  const range = (name: string, r: readonly [number, number], min: number) => {
    int(`${name} min`, r[0], min);
    int(`${name} max`, r[1], r[0]);
  };
  int("capacity", c.capacity, 0);
  int("seed", c.seed, 0, 0xffffffff);
  int("defaultCacheTimeoutSec", c.defaultCacheTimeoutSec, 1);
  int("maxCacheTimeoutSec", c.maxCacheTimeoutSec, c.defaultCacheTimeoutSec);
  int("maxPageSize", c.maxPageSize, 1);
  int("maxCatchUpTicks", c.maxCatchUpTicks, 1);
  int("traffic.tickMs", c.traffic.tickMs, 1);
  range("traffic.packetsPerSec", c.traffic.packetsPerSec, 0);
  range("traffic.bytesPerPacket", c.traffic.bytesPerPacket, 1);
  prob("traffic.finPerSec", c.traffic.finPerSec);
  prob("traffic.rstPerSec", c.traffic.rstPerSec);
  prob("traffic.idlePerSec", c.traffic.idlePerSec);
  if (c.traffic.finPerSec + c.traffic.rstPerSec + c.traffic.idlePerSec > 1) {
    throw new RangeError("traffic: finPerSec + rstPerSec + idlePerSec must be <= 1");
  }
  return Object.freeze({
    ...c,
    traffic: Object.freeze({
      ...c.traffic,
      packetsPerSec: Object.freeze([...c.traffic.packetsPerSec] as const),
      bytesPerPacket: Object.freeze([...c.traffic.bytesPerPacket] as const),
    }),
  });
}
