import { describe, expect, it } from "vitest";
import { EMPTY_LABELS, LabelSets, intersectSorted } from "../../../src/storage/label-sets.js";

describe("LabelSets.intern", () => {
  it("maps an empty list to the shared empty set", () => {
    const ls = new LabelSets();
    expect(ls.intern([])).toBe(EMPTY_LABELS);
    expect(ls.values(EMPTY_LABELS)).toEqual([]);
  });

  it("stores a set once, sorted and de-duplicated, whatever order it arrives in", () => {
    const ls = new LabelSets();
    const a = ls.intern(["b=2", "a=1", "b=2", "c=3"]);
    const b = ls.intern(["c=3", "b=2", "a=1"]);
    expect(a).toBe(b);
    expect(ls.values(a)).toEqual(["a=1", "b=2", "c=3"]);
    expect(ls.intern(["a=1"])).not.toBe(a);
  });

  it("sorts in UTF-8 byte order, not UTF-16 code-unit order", () => {
    const ls = new LabelSets();
    // U+FFFD is EF BF BD in UTF-8, U+1F600 is F0 9F 98 80: the emoji sorts last by bytes, although
    // its first UTF-16 unit (0xD83D) is smaller than 0xFFFD.
    const id = ls.intern(["k=\u{1F600}", "k=\uFFFD", "k=z"]);
    expect(ls.values(id)).toEqual(["k=z", "k=\uFFFD", "k=\u{1F600}"]);
  });

  it("does not let a later change to the caller's array alter the set", () => {
    const ls = new LabelSets();
    const input = ["a=1", "b=2"];
    const id = ls.intern(input);
    input.push("c=3");
    expect(ls.values(id)).toEqual(["a=1", "b=2"]);
    expect(Object.isFrozen(ls.values(id))).toBe(true);
  });
});

describe("LabelSets reference counting", () => {
  it("forgets a set when its last reference goes and re-creates it with a new id", () => {
    const ls = new LabelSets();
    const id = ls.intern(["a=1"]);
    ls.ref(id);
    ls.ref(id);
    expect(ls.size).toBe(2);
    ls.unref(id);
    expect(ls.values(id)).toEqual(["a=1"]);
    ls.unref(id);
    expect(ls.size).toBe(1);
    expect(ls.values(id)).toEqual([]);
    const again = ls.intern(["a=1"]); // the raw-list memo must not hand back the dead id
    expect(again).not.toBe(id);
    expect(ls.values(again)).toEqual(["a=1"]);
  });

  it("never frees the empty set", () => {
    const ls = new LabelSets();
    ls.unref(EMPTY_LABELS);
    ls.unref(EMPTY_LABELS);
    ls.sweep();
    expect(ls.size).toBe(1);
    expect(ls.intern([])).toBe(EMPTY_LABELS);
  });

  it("sweeps sets that nothing references and keeps referenced ones", () => {
    const ls = new LabelSets();
    const kept = ls.intern(["a=1"]);
    ls.ref(kept);
    const loose = ls.intern(["b=2"]);
    ls.intersect(ls.intern(["a=1", "x=1"]), ls.intern(["a=1", "y=1"]));
    ls.sweep();
    expect(ls.values(kept)).toEqual(["a=1"]);
    expect(ls.values(loose)).toEqual([]);
    expect(ls.size).toBe(2);
  });
});

describe("LabelSets.intersect", () => {
  it("returns the interned intersection", () => {
    const ls = new LabelSets();
    const a = ls.intern(["a=1", "b=2", "c=3"]);
    const b = ls.intern(["b=2", "c=3", "d=4"]);
    const i = ls.intersect(a, b);
    expect(ls.values(i)).toEqual(["b=2", "c=3"]);
    expect(ls.intersect(b, a)).toBe(i);
    expect(ls.intern(["c=3", "b=2"])).toBe(i);
  });

  it("is the set itself with itself, and empty with the empty set or a disjoint set", () => {
    const ls = new LabelSets();
    const a = ls.intern(["a=1"]);
    expect(ls.intersect(a, a)).toBe(a);
    expect(ls.intersect(a, EMPTY_LABELS)).toBe(EMPTY_LABELS);
    expect(ls.intersect(EMPTY_LABELS, a)).toBe(EMPTY_LABELS);
    expect(ls.intersect(a, ls.intern(["b=1"]))).toBe(EMPTY_LABELS);
  });

  it("recomputes a memoised intersection whose result was freed", () => {
    const ls = new LabelSets();
    const a = ls.intern(["a=1", "b=2"]);
    const b = ls.intern(["b=2", "c=3"]);
    ls.ref(a);
    ls.ref(b);
    const i = ls.intersect(a, b);
    ls.ref(i);
    ls.unref(i);
    const j = ls.intersect(a, b);
    expect(ls.values(j)).toEqual(["b=2"]);
  });

  it("gives correct results for every pair of many live sets", () => {
    const ls = new LabelSets();
    const sets: string[][] = [];
    for (let i = 0; i < 40; i++) sets.push(["x=0", `a=${i % 3}`, `b=${i % 5}`, `c=${i}`]);
    const ids = sets.map((s) => {
      const id = ls.intern(s);
      ls.ref(id);
      return id;
    });
    for (let i = 0; i < sets.length; i++) {
      for (let j = 0; j < sets.length; j++) {
        const expected = [...new Set(sets[i]!.filter((v) => sets[j]!.includes(v)))].sort();
        expect(ls.values(ls.intersect(ids[i]!, ids[j]!))).toEqual(expected);
      }
    }
  });

  // Set ids are never reused, so they grow for the life of the process (every new distinct set and
  // every new intersection takes one). The memo key `a * 2^26 + b` is only unique while ids stay
  // below 2^26: e.g. (2, 5) and (1, 2^26 + 5) share a key, and the memo then returns the other
  // pair's intersection. We move the id counter instead of creating 67 M sets.
  it("keeps intersections correct once set ids pass 2^26", () => {
    const ls = new LabelSets();
    const one = ls.intern(["a=1", "shared=1"]); // id 1
    const two = ls.intern(["b=1", "other=1"]); // id 2
    ls.ref(one);
    ls.ref(two);
    (ls as unknown as { nextId: number }).nextId = 5;
    const five = ls.intern(["b=1", "other=1", "z=1"]); // id 5
    ls.ref(five);
    const memoised = ls.intersect(two, five); // {b=1, other=1}
    ls.ref(memoised);
    expect(ls.values(memoised)).toEqual(["b=1", "other=1"]);

    (ls as unknown as { nextId: number }).nextId = 2 ** 26 + 5;
    const big = ls.intern(["a=1", "shared=1", "y=1"]); // id 2^26 + 5
    expect(big).toBe(2 ** 26 + 5);
    ls.ref(big);
    expect(ls.values(ls.intersect(one, big))).toEqual(["a=1", "shared=1"]);
  });
});

describe("intersectSorted", () => {
  it("intersects byte-sorted lists", () => {
    expect(intersectSorted(["a", "b", "d"], ["b", "c", "d", "e"])).toEqual(["b", "d"]);
    expect(intersectSorted([], ["a"])).toEqual([]);
    expect(intersectSorted(["a"], [])).toEqual([]);
    expect(intersectSorted(["k=\uFFFD", "k=\u{1F600}"], ["k=\u{1F600}"])).toEqual(["k=\u{1F600}"]);
  });
});

describe("LabelSets slots", () => {
  it("never reuses an id although the storage of forgotten sets is reused", () => {
    const ls = new LabelSets();
    const seen = new Set<number>();
    for (let round = 0; round < 50; round++) {
      const ids = Array.from({ length: 40 }, (_, i) => ls.intern([`app=a${round}-${i}`, `x=${i % 3}`]));
      for (const id of ids) {
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
      ids.forEach((id, i) => expect(ls.values(id)).toEqual([`app=a${round}-${i}`, `x=${i % 3}`]));
      const kept = ids[0]!;
      ls.ref(kept);
      ls.sweep();
      expect(ls.alive(kept)).toBe(true);
      expect(ids.slice(1).some((id) => ls.alive(id))).toBe(false);
      expect(ls.values(ids[1]!)).toEqual([]);
      ls.unref(kept);
      expect(ls.alive(kept)).toBe(false);
      expect(ls.size).toBe(1);
    }
    expect(ls.alive(EMPTY_LABELS)).toBe(true);
  });
});

describe("LabelSets storage churn", () => {
  it("keeps the values of live sets exact while forgotten ones are compacted away", () => {
    const ls = new LabelSets();
    const kept = new Map<number, string[]>();
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 30; i++) {
        const values = [`app=r${round}`, `i=${i}`, `shared=x`, `z=${round % 7}`].slice(0, 1 + (i % 4)).sort();
        const id = ls.intern(values);
        if (i % 10 === 0 && !kept.has(id)) {
          ls.ref(id);
          kept.set(id, values);
        }
      }
      ls.sweep();
    }
    for (const [id, values] of kept) expect(ls.values(id)).toEqual(values);
    expect(ls.size).toBe(kept.size + 1);
    for (const id of kept.keys()) ls.unref(id);
    expect(ls.size).toBe(1);
    expect(ls.intern(["shared=x"])).toBeGreaterThan(0);
  });
});
