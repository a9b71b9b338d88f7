import { describe, expect, it } from "vitest";
import { SlotIndex } from "../../../src/storage/slot-index.js";
import { prng } from "../../helpers/random-updates.js";

describe("SlotIndex", () => {
  it("finds every indexed slot by its hash through random inserts and removals", () => {
    const rnd = prng(7);
    // Few distinct hashes, so probe chains are long and deletions must shift entries back.
    const hashOf = new Int32Array(4000);
    const index = new SlotIndex((slot) => hashOf[slot]!);
    const live = new Set<number>();
    const slotsWithHash = (h: number): number[] => {
      const t = index.table;
      const mask = t.length - 1;
      const out: number[] = [];
      for (let i = h & mask; t[i] !== 0; i = (i + 1) & mask) if (hashOf[t[i]! - 1] === h) out.push(t[i]! - 1);
      return out.sort((a, b) => a - b);
    };
    for (let step = 0; step < 20_000; step++) {
      const slot = Math.floor(rnd() * hashOf.length);
      if (live.has(slot)) {
        index.remove(slot);
        live.delete(slot);
      } else {
        hashOf[slot] = Math.floor(rnd() * 50) * 0x10001 - 25;
        index.insert(slot);
        live.add(slot);
      }
      if (step % 1000 === 0) {
        for (let h = 0; h < 50; h++) {
          const hash = h * 0x10001 - 25;
          expect(slotsWithHash(hash)).toEqual([...live].filter((s) => hashOf[s] === hash).sort((a, b) => a - b));
        }
      }
    }
    expect(index.size).toBe(live.size);
  });
});
