import { describe, expect, it } from "vitest";
import { COUNTERS } from "../../../src/model/flow.js";
import { FlowSeries } from "../../../src/storage/flow-series.js";

const row = (s: FlowSeries, r: number) => Array.from(s.counters.subarray(r * COUNTERS, r * COUNTERS + COUNTERS));

describe("FlowSeries counters", () => {
  it("sums counters per row in 32 bits while they fit", () => {
    const s = new FlowSeries();
    const a = s.alloc();
    const b = s.alloc();
    s.addCounters(a, [1, 2, 3, 4, 5, 6, 7]);
    s.addCounters(a, [1, 1, 1, 1, 1, 1, 2 ** 32 - 9]);
    s.addCounters(b, [9, 0, 0, 0, 0, 0, 0]);
    expect(s.narrowCounters).toBe(true);
    expect(row(s, a)).toEqual([2, 3, 4, 5, 6, 7, 2 ** 32 - 2]);
    expect(row(s, b)).toEqual([9, 0, 0, 0, 0, 0, 0]);
  });

  it("widens the column when a sum passes 2^32 − 1, keeping every row exact", () => {
    const s = new FlowSeries();
    const a = s.alloc();
    const b = s.alloc();
    s.addCounters(a, [1, 2, 3, 4, 5, 6, 7]);
    s.addCounters(b, [2 ** 32 - 1, 0, 0, 0, 0, 0, 0]);
    expect(s.narrowCounters).toBe(true);
    s.addCounters(b, [1, 0, 0, 0, 0, 0, 5]);
    expect(s.narrowCounters).toBe(false);
    expect(row(s, a)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(row(s, b)).toEqual([2 ** 32, 0, 0, 0, 0, 0, 5]);
    s.addCounters(b, [0, 0, Number.MAX_SAFE_INTEGER - 1, 0, 0, 0, 0]);
    expect(row(s, b)[2]).toBe(Number.MAX_SAFE_INTEGER - 1);
  });

  it("widens for a value no unsigned 32-bit integer holds, and keeps it after growing", () => {
    const s = new FlowSeries();
    const a = s.alloc();
    s.addCounters(a, [0, 0, 0, 0, 0, 0, -1]);
    expect(s.narrowCounters).toBe(false);
    expect(row(s, a)[6]).toBe(-1);
    for (let i = 0; i < 2000; i++) s.alloc();
    expect(s.capacity).toBeGreaterThan(1024);
    expect(s.narrowCounters).toBe(false);
    expect(row(s, a)[6]).toBe(-1);
  });

  it("zeroes a reused row", () => {
    const s = new FlowSeries();
    const a = s.alloc();
    s.addCounters(a, [1, 1, 1, 1, 1, 1, 1]);
    s.release(a);
    expect(s.alloc()).toBe(a);
    expect(row(s, a)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });
});

describe("FlowSeries claims", () => {
  it("keeps the first claim as a shared emission and further ones aside, and drops both together", () => {
    const s = new FlowSeries();
    const a = s.alloc();
    const b = s.alloc();
    s.addClaim(a, 1, 100, 115);
    s.addClaim(b, 1, 100, 115);
    s.addClaim(a, 2, 100, 115);
    expect(s.emissions.size).toBe(1);
    expect(s.claim[a]).toBe(s.claim[b]);
    expect(s.hasClaim(a, 1, 100, 115)).toBe(true);
    expect(s.hasClaim(a, 2, 100, 115)).toBe(true);
    expect(s.hasClaim(b, 2, 100, 115)).toBe(false);
    expect(s.hasClaim(a, 1, 100, 116)).toBe(false);
    const seen: number[][] = [];
    s.forEachClaim(a, (node, start, end) => seen.push([node, start, end]));
    expect(seen).toEqual([
      [1, 100, 115],
      [2, 100, 115],
    ]);
    s.clearClaims(a);
    expect(s.hasClaim(a, 1, 100, 115)).toBe(false);
    expect(s.hasClaim(a, 2, 100, 115)).toBe(false);
    expect(s.emissions.size).toBe(1);
    s.release(b);
    expect(s.emissions.size).toBe(0);
  });
});
