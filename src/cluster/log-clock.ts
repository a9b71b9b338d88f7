import type { Clock } from "../model/time.js";

/**
 * The clock of a replica in cluster mode (DESIGN §9, the determinism rule): time is the largest
 * receive time of the log entries applied so far, never the replica's own clock. Two replicas
 * that applied the same log prefix therefore agree on the filling bucket, on what is out of the
 * window and on which dedup claims have expired. It starts at 0 (nothing applied: the ring is
 * re-laid around the first entry's time, a jump longer than the ring).
 */
export interface LogClock extends Clock {
  /** Moves time to `ms` (Unix milliseconds) if that is later; never backwards. */
  advanceToMs(ms: number): void;
  /** The current time in Unix milliseconds. */
  nowMs(): number;
}

/** Creates a {@link LogClock} at time 0. */
export function createLogClock(): LogClock {
  let ms = 0;
  return {
    nowSec: () => ms / 1000,
    nowMs: () => ms,
    advanceToMs(t) {
      if (t > ms) ms = t;
    },
  };
}
