import { describe, expect, it } from "vitest";
import { MAX_PROBE, SignatureMemo } from "../../../src/storage/signature-memo.js";
import { hashWords } from "../../../src/model/word-hash.js";
import { prng } from "../../helpers/random-updates.js";

/** A signature of `length` random bytes as the scanner lays it out: whole words, zero-padded. */
function signature(rnd: () => number, length: number): Int32Array {
  const bytes = new Uint8Array(Math.ceil(length / 4) * 4 + 8);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(rnd() * 256);
  return new Int32Array(bytes.buffer);
}

const keyOf = (w: Int32Array, length: number) => `${length}:${Array.from(w.subarray(0, (length + 3) >>> 2)).join(",")}`;

describe("SignatureMemo", () => {
  it("agrees with a Map over inserts, finds and deletes, through table rebuilds and arena compactions", () => {
    const rnd = prng(11);
    const memo = new SignatureMemo();
    const model = new Map<string, number>();
    const used = new Set<number>();
    const live: { w: Int32Array; length: number; key: string }[] = [];
    // Phases: mostly inserts, then mostly deletes (the dead words outgrow the live ones, so the
    // arena is compacted), then inserts again into the freed entry numbers.
    const insertShare = [0.7, 0.15, 0.7];
    for (let step = 0; step < 45_000; step++) {
      const r = rnd();
      if (r < insertShare[Math.floor(step / 15_000)]! || live.length === 0) {
        // Lengths from 1 byte to beyond a 1 MiB chunk (rarely), odd sizes included.
        const length = rnd() < 0.0005 ? 1_100_000 : 1 + Math.floor(rnd() * 700);
        const w = signature(rnd, length);
        const key = keyOf(w, length);
        const h = hashWords(w, (length + 3) >>> 2, length);
        expect(memo.find(w, length, h)).toBe(model.get(key) ?? -1);
        if (model.has(key)) continue;
        const e = memo.insert(w, length, h);
        expect(e).toBeGreaterThanOrEqual(0);
        expect(used.has(e)).toBe(false);
        used.add(e);
        model.set(key, e);
        live.push({ w, length, key });
      } else if (rnd() < 0.3) {
        const x = live[Math.floor(rnd() * live.length)]!;
        expect(memo.find(x.w, x.length, hashWords(x.w, (x.length + 3) >>> 2, x.length))).toBe(model.get(x.key));
      } else {
        const i = Math.floor(rnd() * live.length);
        const x = live[i]!;
        memo.delete(model.get(x.key)!);
        used.delete(model.get(x.key)!);
        model.delete(x.key);
        live.splice(i, 1);
        expect(memo.find(x.w, x.length, hashWords(x.w, (x.length + 3) >>> 2, x.length))).toBe(-1);
      }
      expect(memo.size).toBe(model.size);
    }
    for (const x of live) expect(memo.find(x.w, x.length, hashWords(x.w, (x.length + 3) >>> 2, x.length))).toBe(model.get(x.key));
  });

  it("tells signatures with the same hash apart by their words, and refuses an insert beyond the probe limit", () => {
    const rnd = prng(5);
    const memo = new SignatureMemo();
    const same = 12345;
    const sigs = Array.from({ length: MAX_PROBE + 5 }, () => signature(rnd, 40));
    const entries = sigs.map((w) => memo.insert(w, 40, same));
    expect(new Set(entries.slice(0, MAX_PROBE)).size).toBe(MAX_PROBE);
    expect(entries.slice(0, MAX_PROBE).every((e) => e >= 0)).toBe(true);
    expect(entries.slice(MAX_PROBE).every((e) => e === -1)).toBe(true);
    sigs.slice(0, MAX_PROBE).forEach((w, i) => expect(memo.find(w, 40, same)).toBe(entries[i]));
    expect(memo.find(sigs[MAX_PROBE]!, 40, same)).toBe(-1);
    // Same words, different length (a zero byte more): a different signature.
    const w = sigs[0]!;
    const padded = new Int32Array(w.length + 1);
    padded.set(w);
    expect(memo.find(padded, 41, same)).toBe(-1);
  });

  it("forgets everything on clear", () => {
    const rnd = prng(3);
    const memo = new SignatureMemo();
    const w = signature(rnd, 100);
    const h = hashWords(w, 25, 100);
    memo.insert(w, 100, h);
    memo.clear();
    expect(memo.size).toBe(0);
    expect(memo.find(w, 100, h)).toBe(-1);
  });
});
