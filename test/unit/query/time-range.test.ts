import { describe, expect, it } from "vitest";
import { QueryError } from "../../../src/query/errors.js";
import { normalizeTimeRange, wholeBuckets } from "../../../src/query/time-range.js";

const NOW = 1_700_000_017;
const OLDEST = 1_699_996_410;

describe("normalizeTimeRange (goldmane-spec §4.1)", () => {
  it("maps 0 to the oldest bucket start (gte) and to now (lt)", () => {
    expect(normalizeTimeRange(0, 0, NOW, OLDEST)).toEqual({ gteSec: OLDEST, ltSec: NOW });
  });

  it("takes positive values as absolute times", () => {
    expect(normalizeTimeRange(1_699_999_000, 1_700_000_100, NOW, OLDEST)).toEqual({ gteSec: 1_699_999_000, ltSec: 1_700_000_100 });
    // lt in the future and gte older than the ring are both fine for List.
    expect(normalizeTimeRange(1, 1_800_000_000, NOW, OLDEST)).toEqual({ gteSec: 1, ltSec: 1_800_000_000 });
  });

  it("takes negative values relative to now", () => {
    expect(normalizeTimeRange(-20, -5, NOW, OLDEST)).toEqual({ gteSec: NOW - 20, ltSec: NOW - 5 });
    expect(normalizeTimeRange(-300, 0, NOW, OLDEST)).toEqual({ gteSec: NOW - 300, ltSec: NOW });
    expect(normalizeTimeRange(0, -60, NOW, OLDEST)).toEqual({ gteSec: OLDEST, ltSec: NOW - 60 });
    expect(normalizeTimeRange(-60, 1_800_000_000, NOW, OLDEST)).toEqual({ gteSec: NOW - 60, ltSec: 1_800_000_000 });
  });

  it("uses whole seconds of now (truncated)", () => {
    expect(normalizeTimeRange(-10, 0, NOW + 0.999, OLDEST)).toEqual({ gteSec: NOW - 10, ltSec: NOW });
  });

  it("rejects gte ≥ lt with Goldmane's text, naming the field", () => {
    const cases: [number, number][] = [
      [100, 100],
      [200, 100],
      [-5, -20],
      [0, OLDEST],
      [NOW, 0],
      [-1, -1],
    ];
    for (const [gte, lt] of cases) {
      let err: unknown;
      try {
        normalizeTimeRange(gte, lt, NOW, OLDEST);
      } catch (e) {
        err = e;
      }
      expect(err, `${gte}, ${lt}`).toBeInstanceOf(QueryError);
      expect((err as QueryError).field).toBe("start_time_gte");
      expect((err as QueryError).kind).toBe("invalid");
      expect((err as QueryError).message).toMatch(/^start_time_gte: startTimeGt \(-?\d+\) must be less than startTimeLt \(-?\d+\)$/);
    }
    expect(() => normalizeTimeRange(200, 100, NOW, OLDEST)).toThrow("startTimeGt (200) must be less than startTimeLt (100)");
    expect(() => normalizeTimeRange(-5, -20, NOW, OLDEST)).toThrow(`startTimeGt (${NOW - 5}) must be less than startTimeLt (${NOW - 20})`);
  });
});

describe("wholeBuckets (only buckets wholly inside the range count, spec §4.2)", () => {
  it("keeps the buckets [first, last] with gte ≤ start and start + W ≤ lt", () => {
    expect(wholeBuckets({ gteSec: 30, ltSec: 90 }, 15)).toEqual({ first: 30, last: 75 });
    expect(wholeBuckets({ gteSec: 31, ltSec: 90 }, 15)).toEqual({ first: 45, last: 75 });
    expect(wholeBuckets({ gteSec: 29, ltSec: 89 }, 15)).toEqual({ first: 30, last: 60 });
    expect(wholeBuckets({ gteSec: 30, ltSec: 45 }, 15)).toEqual({ first: 30, last: 30 });
  });

  it("is empty when no bucket fits", () => {
    const narrow = wholeBuckets({ gteSec: 31, ltSec: 44 }, 15);
    expect(narrow.first).toBeGreaterThan(narrow.last);
    const straddling = wholeBuckets({ gteSec: 40, ltSec: 50 }, 15);
    expect(straddling.first).toBeGreaterThan(straddling.last);
  });

  it("works with 1 s buckets and negative times", () => {
    expect(wholeBuckets({ gteSec: 990, ltSec: 1000 }, 1)).toEqual({ first: 990, last: 999 });
    expect(wholeBuckets({ gteSec: -31, ltSec: -1 }, 15)).toEqual({ first: -30, last: -30 });
  });
});
