import { describe, expect, it } from "vitest";
import { keyString, traceString } from "../../../src/model/flow-key.js";
import { KeyTable } from "../../../src/storage/key-table.js";
import { StringPool } from "../../../src/storage/string-pool.js";
import { flowKey, policyHit } from "../../helpers/flow-fixtures.js";
import { prng } from "../../helpers/random-updates.js";

const sig = (k: ReturnType<typeof flowKey>) => keyString(k, traceString(k.enforced, k.pending));

describe("KeyTable identity index", () => {
  it("agrees with a Map through random inserts and removals (probe chains survive deletions)", () => {
    const rnd = prng(42);
    const table = new KeyTable(new StringPool());
    const ref = new Map<string, number>();
    const keyOf = (i: number) =>
      flowKey({ sourceName: `pod-${i % 997}`, destName: `svc-${Math.floor(i / 997)}`, destPort: i % 7, enforced: i % 3 ? [policyHit({ name: `p${i % 11}`, ruleIndex: i % 5 })] : [] });
    for (let step = 0; step < 60_000; step++) {
      const i = Math.floor(rnd() * 20_000);
      const k = keyOf(i);
      const s = sig(k);
      const slot = table.lookup(s);
      expect(slot, `step ${step} key ${i}`).toBe(ref.get(s));
      if (slot === undefined) ref.set(s, table.insert(s, k));
      else if (rnd() < 0.5) {
        table.remove(slot);
        ref.delete(s);
      }
      expect(table.size).toBe(ref.size);
    }
    for (const [s, slot] of ref) expect(table.lookup(s)).toBe(slot);
    // A key that differs in one field only is another key.
    const k = keyOf(5);
    expect(table.lookup(sig({ ...k, destPort: 12345 }))).toBeUndefined();
  });
});

describe("KeyTable policy traces", () => {
  it("shares equal hits between distinct traces and releases their strings with the last key", () => {
    const pool = new StringPool();
    const table = new KeyTable(pool);
    const eot = policyHit({ kind: 5, name: "", namespace: "", tier: "t1", action: 2, trigger: policyHit({ name: "trig", tier: "t1" }) });
    const a = flowKey({ destPort: 1, enforced: [policyHit({ name: "p1" }), policyHit({ name: "p2", policyIndex: 1 })] });
    const b = flowKey({ destPort: 2, enforced: [policyHit({ name: "p1" }), eot], pending: [policyHit({ name: "p2", policyIndex: 1 })] });
    const c = flowKey({ destPort: 3, enforced: [eot] });
    const before = pool.size;
    const sa = table.insert(sig(a), a);
    const sb = table.insert(sig(b), b);
    const sc = table.insert(sig(c), c);
    const ka = table.keys[sa]!;
    const kb = table.keys[sb]!;
    const kc = table.keys[sc]!;
    expect(kb.enforced[0]).toBe(ka.enforced[0]);
    expect(kb.pending[0]).toBe(ka.enforced[1]);
    expect(kc.enforced[0]).toBe(kb.enforced[1]);
    expect(kc.enforced[0]!.trigger).toEqual(eot.trigger);
    expect(ka.pending).toBe(kc.pending);
    expect([ka, kb, kc].map((k) => traceString(k.enforced, k.pending))).toEqual([a, b, c].map((k) => traceString(k.enforced, k.pending)));
    table.remove(sa);
    table.remove(sb);
    expect(table.keys[sc]!.enforced[0]!.trigger!.name).toBe("trig");
    expect(table.lookup(sig(c))).toBe(sc);
    table.remove(sc);
    expect(pool.size).toBe(before);
  });
});
