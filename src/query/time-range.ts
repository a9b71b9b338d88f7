import { QueryError } from "./errors.js";

/** A normalised half-open time range [gteSec, ltSec) in Unix seconds. */
export interface TimeRange {
  readonly gteSec: number;
  readonly ltSec: number;
}

/**
 * Normalises a request's start_time_gte / start_time_lt (goldmane-spec §4.1): 0 → the oldest
 * bucket start / now, positive → absolute, negative → relative to now (whole seconds). One
 * normaliser serves List, FilterHints and Statistics (STYLE.md §11).
 */
export function normalizeTimeRange(gte: number, lt: number, nowSec: number, oldestStartSec: number): TimeRange {
  const now = Math.floor(nowSec);
  const gteSec = gte === 0 ? oldestStartSec : gte > 0 ? gte : now + gte;
  const ltSec = lt === 0 ? now : lt > 0 ? lt : now + lt;
  if (gteSec >= ltSec) {
    // Goldmane's text (spec §4.7), prefixed with the request fields it is about.
    throw new QueryError("start_time_gte", `startTimeGt (${gteSec}) must be less than startTimeLt (${ltSec})`);
  }
  return { gteSec, ltSec };
}

/**
 * The starts of the buckets that lie wholly inside a range (only whole buckets count,
 * goldmane-spec §4.2 step 3): `[first, last]`, empty when first > last.
 */
export function wholeBuckets(range: TimeRange, windowSec: number): { first: number; last: number } {
  const first = Math.ceil(range.gteSec / windowSec) * windowSec;
  const last = Math.floor(range.ltSec / windowSec) * windowSec - windowSec;
  return { first, last };
}
