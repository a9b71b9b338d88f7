/** Start of the W-aligned bucket that contains `tSec` (bucket boundaries are multiples of W). */
export function bucketStart(tSec: number, windowSec: number): number {
  return Math.floor(tSec / windowSec) * windowSec;
}

/** A source of wall-clock time in seconds since the Unix epoch (fractional allowed). */
export interface Clock {
  nowSec(): number;
}

/** The real clock. */
export const systemClock: Clock = { nowSec: () => Date.now() / 1000 };

/** A clock moved by hand, for deterministic tests (no sleeping, no fake timers). */
export interface ManualClock extends Clock {
  set(tSec: number): void;
  advance(seconds: number): void;
}

/** Creates a {@link ManualClock} starting at `startSec`. */
export function manualClock(startSec: number): ManualClock {
  let now = startSec;
  return {
    nowSec: () => now,
    set: (t) => {
      now = t;
    },
    advance: (s) => {
      now += s;
    },
  };
}
