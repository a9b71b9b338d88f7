import { describe, expect, it } from "vitest";
import { Emissions } from "../../../src/storage/emissions.js";

describe("Emissions", () => {
  it("interns a (node, start, end) triple once and names it by id", () => {
    const em = new Emissions();
    const a = em.acquire(3, 100, 115);
    expect(em.acquire(3, 100, 115)).toBe(a);
    expect(em.size).toBe(1);
    expect([em.node[a], em.start[a], em.end[a]]).toEqual([3, 100, 115]);
    expect(em.is(a, 3, 100, 115)).toBe(true);
    expect(em.is(a, 4, 100, 115)).toBe(false);
    expect(em.is(a, 3, 100, 116)).toBe(false);
  });

  it("tells triples apart that differ in any part", () => {
    const em = new Emissions();
    const ids = [em.acquire(1, 0, 15), em.acquire(2, 0, 15), em.acquire(1, 15, 30), em.acquire(1, 0, 30)];
    expect(new Set(ids).size).toBe(4);
    expect(em.size).toBe(4);
  });

  it("forgets a triple when its last reference goes, and reuses the id for another", () => {
    const em = new Emissions();
    const a = em.acquire(1, 0, 15);
    em.acquire(1, 0, 15);
    em.release(a);
    expect(em.size).toBe(1);
    em.release(a);
    expect(em.size).toBe(0);
    const b = em.acquire(2, 15, 30);
    expect(b).toBe(a);
    expect(em.is(b, 2, 15, 30)).toBe(true);
    // Node 1's remembered last emission now names node 2's triple: it must not be taken for node 1.
    const c = em.acquire(1, 0, 15);
    expect(c).not.toBe(b);
    expect(em.is(c, 1, 0, 15)).toBe(true);
    expect(em.is(b, 2, 15, 30)).toBe(true);
    expect(em.size).toBe(2);
  });

  it("keeps triples of the unknown node apart (no per-node shortcut for negative ids)", () => {
    const em = new Emissions();
    const a = em.acquire(-1, 0, 15);
    expect(em.acquire(-1, 0, 15)).toBe(a);
    expect(em.acquire(-1, 15, 30)).not.toBe(a);
  });
});
