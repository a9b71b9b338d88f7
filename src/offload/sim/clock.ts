/**
 * Time source of the emulator. Same shape as `Clock` in `src/model/time.ts` (seconds since the Unix
 * epoch, fractional), declared here so the emulator has no dependency on the aggregator's model.
 */
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
