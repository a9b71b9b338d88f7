import { describe, expect, it } from "vitest";
import { flowFromUpdate } from "../../../src/model/convert.js";
import { COUNTER_NAMES, type FlowKeyModel, type IngestFlow } from "../../../src/model/flow.js";
import { keyString, traceString } from "../../../src/model/flow-key.js";
import { NONE } from "../../../src/storage/flow-series.js";
import { FlowStore, NO_NODE, type FlowStoreOptions } from "../../../src/storage/flow-store.js";
import {
  T0,
  countersOf,
  flowKey,
  flowUpdate,
  ingestFlow,
  policyHit,
  protoHit,
  scaledCounters,
  type IngestFlowInit,
} from "../../helpers/flow-fixtures.js";

const W = 15;
const OPTS: FlowStoreOptions = { windowSec: W, historyBuckets: 240, maxKeys: 1000, replayHorizonSec: 300 };

function newStore(opts: Partial<FlowStoreOptions> = {}, nowSec = T0 + 7): FlowStore {
  return new FlowStore({ ...OPTS, ...opts }, nowSec);
}

function slotOf(store: FlowStore, key: FlowKeyModel): number | undefined {
  return store.keys.lookup(keyString(key, traceString(key.enforced, key.pending)));
}

interface WindowView {
  start: number;
  counters: Record<string, number>;
  sourceLabels: readonly string[];
  destLabels: readonly string[];
}

/** The windows a key holds, oldest first (reads the store's public columns). */
function windowsOf(store: FlowStore, key: FlowKeyModel = flowKey()): WindowView[] {
  const slot = slotOf(store, key);
  if (slot === undefined) return [];
  const s = store.series;
  const out: WindowView[] = [];
  for (let r = store.keys.oldest[slot]!; r !== NONE; r = s.next[r]!) {
    const counters = Array.from(s.counters.subarray(r * 7, r * 7 + 7));
    out.push({
      start: s.start[r]!,
      counters: countersOf({ counters }),
      sourceLabels: store.labels.values(s.sourceLabels[r]!),
      destLabels: store.labels.values(s.destLabels[r]!),
    });
  }
  return out;
}

function idOf(store: FlowStore, key: FlowKeyModel = flowKey()): number | undefined {
  const slot = slotOf(store, key);
  return slot === undefined ? undefined : store.keys.ids[slot];
}

const f = (init: IngestFlowInit = {}): IngestFlow => ingestFlow(init);

describe("FlowStore ring geometry", () => {
  it("aligns buckets to multiples of W and holds 240 history + filling + future buckets", () => {
    const store = newStore();
    // now = T0 + 7: the filling bucket is [T0, T0 + 15).
    expect(store.ring.currentStart).toBe(T0);
    expect(store.ring.slots).toBe(242);
    expect(store.ring.oldestStart).toBe(T0 - 240 * W);
    expect(store.ring.endSec).toBe(T0 + 2 * W);
  });

  it("aligns an unaligned start-up time down to the bucket boundary", () => {
    const store = newStore({}, T0 + 14.999);
    expect(store.ring.currentStart).toBe(T0);
    expect(newStore({}, T0 - 0.001).ring.currentStart).toBe(T0 - W);
  });

  it("accepts exactly [oldest, future end) and rejects the rest as out_of_window", () => {
    const store = newStore();
    const oldest = T0 - 3600;
    const end = T0 + 30;
    expect(store.add(f({ startSec: oldest - 1 }), 0)).toBe("out_of_window");
    expect(store.add(f({ startSec: end }), 0)).toBe("out_of_window");
    expect(store.add(f({ startSec: end + 1000 }), 0)).toBe("out_of_window");
    expect(store.keyCount).toBe(0);
    expect(store.series.size).toBe(0);

    expect(store.add(f({ startSec: oldest }), 0)).toBe("stored");
    expect(store.add(f({ startSec: end - 1 }), 0)).toBe("stored"); // the future bucket
    expect(store.add(f({ startSec: T0 + 3 }), 0)).toBe("stored"); // the filling bucket
    expect(windowsOf(store).map((w) => w.start)).toEqual([oldest, T0, T0 + W]);
  });

  it("rejects invalid sizing", () => {
    expect(() => newStore({ windowSec: 0 })).toThrow(RangeError);
    expect(() => newStore({ windowSec: 1.5 })).toThrow(RangeError);
    expect(() => newStore({ historyBuckets: 0 })).toThrow(RangeError);
  });
});

describe("FlowStore placement and sums", () => {
  it("places a flow by start_time only; end_time does not matter", () => {
    const store = newStore();
    store.add(f({ startSec: T0 - 16, endSec: T0 + 500 }), 0);
    store.add(f({ startSec: T0 - 15, endSec: T0 - 15 }), 0);
    store.add(f({ startSec: T0 - 1, endSec: T0 - 100 }), 0);
    expect(windowsOf(store).map((w) => w.start)).toEqual([T0 - 30, T0 - 15]);
    expect(store.ring.rowsOf(T0 - 30).length).toBe(1);
    expect(store.ring.rowsOf(T0 - 15).length).toBe(1);
    expect(windowsOf(store)[1]!.counters).toEqual(scaledCounters(2));
  });

  it("sums all seven counters (live connections included) per bucket and across nodes", () => {
    const store = newStore();
    const a = { packetsIn: 1, packetsOut: 2, bytesIn: 3, bytesOut: 4, numConnectionsStarted: 5, numConnectionsCompleted: 6, numConnectionsLive: 7 };
    const b = { packetsIn: 10, packetsOut: 20, bytesIn: 30, bytesOut: 40, numConnectionsStarted: 50, numConnectionsCompleted: 60, numConnectionsLive: 70 };
    expect(store.add(f({ startSec: T0 - 60, counters: a }), 0)).toBe("stored");
    expect(store.add(f({ startSec: T0 - 59, counters: b }), 1)).toBe("stored");
    expect(store.add(f({ startSec: T0 - 58, counters: b }), NO_NODE)).toBe("stored");
    // Another bucket is kept apart.
    expect(store.add(f({ startSec: T0 - 45, counters: a }), 0)).toBe("stored");
    const ws = windowsOf(store);
    expect(ws.map((w) => w.start)).toEqual([T0 - 60, T0 - 45]);
    expect(ws[0]!.counters).toEqual({
      packetsIn: 21,
      packetsOut: 42,
      bytesIn: 63,
      bytesOut: 84,
      numConnectionsStarted: 105,
      numConnectionsCompleted: 126,
      numConnectionsLive: 147,
    });
    expect(ws[1]!.counters).toEqual(a);
    expect(Object.keys(ws[0]!.counters)).toEqual([...COUNTER_NAMES]);
  });

  it("links windows in time order whatever order the flows arrive in", () => {
    const store = newStore();
    for (const t of [T0 - 30, T0 - 90, T0, T0 - 60, T0 + 15, T0 - 3600]) store.add(f({ startSec: t }), NO_NODE);
    expect(windowsOf(store).map((w) => w.start)).toEqual([T0 - 3600, T0 - 90, T0 - 60, T0 - 30, T0, T0 + 15]);
    expect(store.series.size).toBe(6);
  });

  it("intersects labels strictly within a bucket: once empty, it stays empty", () => {
    const store = newStore();
    const t = T0 - 60;
    store.add(f({ startSec: t, sourceLabels: ["b=2", "a=1", "c=3"], destLabels: ["x=1"] }), NO_NODE);
    expect(windowsOf(store)[0]!.sourceLabels).toEqual(["a=1", "b=2", "c=3"]);
    store.add(f({ startSec: t, sourceLabels: ["c=3", "a=1", "z=9"], destLabels: ["x=1", "y=2"] }), NO_NODE);
    expect(windowsOf(store)[0]!.sourceLabels).toEqual(["a=1", "c=3"]);
    expect(windowsOf(store)[0]!.destLabels).toEqual(["x=1"]);
    store.add(f({ startSec: t, sourceLabels: ["q=0"] }), NO_NODE);
    expect(windowsOf(store)[0]!.sourceLabels).toEqual([]);
    // A later report with the original labels does not bring them back (sticky empty)...
    store.add(f({ startSec: t, sourceLabels: ["a=1", "c=3"] }), NO_NODE);
    expect(windowsOf(store)[0]!.sourceLabels).toEqual([]);
    // ...and a report without labels empties the other side too.
    store.add(f({ startSec: t, destLabels: [] }), NO_NODE);
    expect(windowsOf(store)[0]!.destLabels).toEqual([]);
    // Another bucket starts from its own first report.
    store.add(f({ startSec: t + W, sourceLabels: ["a=1"] }), NO_NODE);
    expect(windowsOf(store)[1]!.sourceLabels).toEqual(["a=1"]);
  });
});

describe("FlowStore canonical keys", () => {
  const keyFrom = (u: ReturnType<typeof flowUpdate>): IngestFlow => {
    const r = flowFromUpdate(u);
    if (!r.ok) throw new Error(r.reason);
    return r.flow;
  };

  it("treats the same policy hits in another order as one key", () => {
    const store = newStore();
    const h0 = protoHit({ name: "p0", policyIndex: 0n });
    const h1 = protoHit({ name: "p1", policyIndex: 1n });
    const h2 = protoHit({ name: "p2", policyIndex: 2n });
    store.add(keyFrom(flowUpdate({ key: { policies: { enforcedPolicies: [h0, h1, h2], pendingPolicies: [h1, h0] } } })), NO_NODE);
    store.add(keyFrom(flowUpdate({ key: { policies: { enforcedPolicies: [h2, h0, h1], pendingPolicies: [h0, h1] } } })), NO_NODE);
    expect(store.keyCount).toBe(1);
  });

  it("keeps enforced and pending hits apart", () => {
    const store = newStore();
    const h = protoHit({ name: "p" });
    store.add(keyFrom(flowUpdate({ key: { policies: { enforcedPolicies: [h] } } })), NO_NODE);
    store.add(keyFrom(flowUpdate({ key: { policies: { pendingPolicies: [h] } } })), NO_NODE);
    store.add(keyFrom(flowUpdate({ key: { policies: { enforcedPolicies: [h], pendingPolicies: [h] } } })), NO_NODE);
    expect(store.keyCount).toBe(3);
  });

  it("gives an absent trace and an empty PolicyTrace the same key", () => {
    const store = newStore();
    store.add(keyFrom(flowUpdate({ key: { policies: undefined } })), NO_NODE);
    store.add(keyFrom(flowUpdate({ key: { policies: {} } })), NO_NODE);
    store.add(keyFrom(flowUpdate({ key: { policies: { enforcedPolicies: [], pendingPolicies: [] } } })), NO_NODE);
    expect(store.keyCount).toBe(1);
  });

  it("distinguishes every FlowKey field", () => {
    const store = newStore();
    const variants: Partial<FlowKeyModel>[] = [
      {},
      { sourceName: "x" },
      { sourceNamespace: "x" },
      { sourceType: 2 },
      { destName: "x" },
      { destNamespace: "x" },
      { destType: 2 },
      { destPort: 1 },
      { destServiceName: "x" },
      { destServiceNamespace: "x" },
      { destServicePortName: "x" },
      { destServicePort: 1 },
      { proto: "udp" },
      { reporter: 2 },
      { action: 2 },
      { enforced: [policyHit({ ruleIndex: 1 })] },
      { enforced: [policyHit({ kind: 10, trigger: policyHit({ name: "t" }) })] },
      { enforced: [policyHit({ kind: 10, trigger: policyHit({ name: "u" }) })] },
      // Strings that would collide if fields were merely concatenated.
      { sourceName: "ab", sourceNamespace: "c" },
      { sourceName: "a", sourceNamespace: "bc" },
    ];
    for (const key of variants) store.add(f({ key }), NO_NODE);
    expect(store.keyCount).toBe(variants.length);
  });
});

describe("FlowStore ids and expiry", () => {
  it("numbers keys 1, 2, 3… in order of first sight and keeps them while the key has data", () => {
    const store = newStore();
    const k = (n: string) => flowKey({ sourceName: n });
    store.add(f({ key: { sourceName: "a" } }), NO_NODE);
    store.add(f({ key: { sourceName: "b" } }), NO_NODE);
    store.add(f({ key: { sourceName: "a" }, startSec: T0 }), NO_NODE);
    store.add(f({ key: { sourceName: "c" } }), NO_NODE);
    expect([idOf(store, k("a")), idOf(store, k("b")), idOf(store, k("c"))]).toEqual([1, 2, 3]);
    store.advanceTo(T0 + 10 * W);
    expect([idOf(store, k("a")), idOf(store, k("b")), idOf(store, k("c"))]).toEqual([1, 2, 3]);
  });

  it("expires a key when its last window leaves the ring; it comes back with a new, larger id", () => {
    const store = newStore();
    const old = f({ key: { sourceName: "old" }, startSec: T0 - 3600 }); // the oldest bucket
    const longLived = f({ key: { sourceName: "long" }, startSec: T0 - 3600 });
    store.add(old, NO_NODE);
    store.add(longLived, NO_NODE);
    store.add(f({ key: { sourceName: "long" }, startSec: T0 - 3600 + W }), NO_NODE);
    expect(idOf(store, old.key)).toBe(1);
    expect(idOf(store, longLived.key)).toBe(2);

    store.advanceTo(T0 + W); // one rollover: [T0 − 3600, +W) is recycled
    expect(idOf(store, old.key)).toBeUndefined();
    expect(store.keyCount).toBe(1);
    expect(idOf(store, longLived.key)).toBe(2);
    expect(windowsOf(store, longLived.key).map((w) => w.start)).toEqual([T0 - 3600 + W]);

    store.advanceTo(T0 + 2 * W);
    expect(store.keyCount).toBe(0);
    expect(store.series.size).toBe(0);

    expect(store.add(f({ key: { sourceName: "old" }, startSec: T0 }), NO_NODE)).toBe("stored");
    expect(store.add(f({ key: { sourceName: "long" }, startSec: T0 }), NO_NODE)).toBe("stored");
    expect(idOf(store, old.key)).toBe(3);
    expect(idOf(store, longLived.key)).toBe(4);
  });

  it("does not reuse ids when a key slot is reused", () => {
    const store = newStore({ historyBuckets: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      const start = store.ring.currentStart;
      store.add(f({ key: { sourceName: `k${i}` }, startSec: start }), NO_NODE);
      ids.push(idOf(store, flowKey({ sourceName: `k${i}` }))!);
      store.advanceTo(start + 4 * W); // the key expires
      expect(store.keyCount).toBe(0);
    }
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe("FlowStore rollover", () => {
  it("moves one bucket per W and reports [R − 2W, R − W) as ready", () => {
    const store = newStore();
    expect(store.advanceTo(T0 + 14)).toEqual([]); // same bucket: nothing to do
    expect(store.advanceTo(T0 + W)).toEqual([T0 - W]);
    expect(store.ring.currentStart).toBe(T0 + W);
    expect(store.ring.oldestStart).toBe(T0 + W - 3600);
    expect(store.ring.endSec).toBe(T0 + 3 * W);
    expect(store.ring.accepts(T0 - 3600)).toBe(false);
    expect(store.ring.accepts(T0 + W - 3600)).toBe(true);
    expect(store.ring.accepts(T0 + 3 * W - 1)).toBe(true);
  });

  it("catches up several rollovers at once, oldest ready bucket first", () => {
    const store = newStore();
    for (let i = 0; i < 8; i++) store.add(f({ key: { sourceName: `k${i}` }, startSec: T0 - 3600 + i * W }), NO_NODE);
    const ready = store.advanceTo(T0 + 5 * W + 3);
    expect(ready).toEqual([T0 - W, T0, T0 + W, T0 + 2 * W, T0 + 3 * W]);
    expect(store.ring.currentStart).toBe(T0 + 5 * W);
    // The five oldest buckets were recycled, the others kept.
    expect(store.keyCount).toBe(3);
    expect(store.series.size).toBe(3);
  });

  it("keeps a flow stored in the future bucket across rollovers", () => {
    const store = newStore();
    store.add(f({ startSec: T0 + W + 1 }), NO_NODE);
    store.advanceTo(T0 + 3 * W);
    expect(windowsOf(store).map((w) => w.start)).toEqual([T0 + W]);
  });

  it("empties everything after a clock jump longer than the ring and keeps working", () => {
    const store = newStore();
    store.add(f({ startSec: T0 - 3600 }), 0);
    store.add(f({ startSec: T0 }), 0);
    store.add(f({ key: { sourceName: "b" }, startSec: T0 + W }), 0);
    const target = T0 + 10_000 * W + 4;
    store.advanceTo(target);
    expect(store.keyCount).toBe(0);
    expect(store.series.size).toBe(0);
    expect(store.ring.currentStart).toBe(T0 + 10_000 * W);
    expect(store.ring.oldestStart).toBe(T0 + 10_000 * W - 3600);
    for (let b = store.ring.oldestStart; b < store.ring.endSec; b += W) expect(store.ring.rowsOf(b).length).toBe(0);
    // Old flows are now out of the window; new ones are stored, the same key with a new id.
    expect(store.add(f({ startSec: T0 }), 0)).toBe("out_of_window");
    expect(store.add(f({ startSec: target }), 0)).toBe("stored");
    expect(idOf(store)).toBe(3);
    expect(windowsOf(store)).toHaveLength(1);
    // And normal rollovers continue from there.
    expect(store.advanceTo(target + W)).toEqual([T0 + 10_000 * W - W]);
  });

  it("empties everything after a jump of exactly the ring length", () => {
    const store = newStore();
    for (let i = 0; i < 242; i++) store.add(f({ startSec: T0 - 3600 + i * W }), 0);
    expect(windowsOf(store)).toHaveLength(242);
    store.advanceTo(T0 + 242 * W);
    expect(store.keyCount).toBe(0);
    expect(store.series.size).toBe(0);
  });

  it("ignores a clock that went backwards", () => {
    const store = newStore();
    store.add(f({ startSec: T0 }), 0);
    expect(store.advanceTo(T0 - 10 * W)).toEqual([]);
    expect(store.ring.currentStart).toBe(T0);
    expect(store.ring.oldestStart).toBe(T0 - 3600);
    expect(windowsOf(store)).toHaveLength(1);
    // Time resumes where it was.
    expect(store.advanceTo(T0 + W)).toEqual([T0 - W]);
  });

  it("notifies observers of adds and recycled buckets", () => {
    const store = newStore();
    const adds: number[] = [];
    const recycled: number[] = [];
    store.observe({ onAdd: (_slot, _key, b) => adds.push(b), onRecycle: (b) => recycled.push(b) });
    store.add(f({ startSec: T0 - 59 }), 0);
    store.add(f({ startSec: T0 - 59 }), 0); // duplicate: not observed
    store.add(f({ startSec: T0 - 9999 }), 0); // out of window: not observed
    store.advanceTo(T0 + 2 * W);
    expect(adds).toEqual([T0 - 60]);
    expect(recycled).toEqual([T0 - 3600, T0 - 3600 + W]);
  });
});

describe("FlowStore MAX_UNIQUE_FLOWS", () => {
  it("rejects new keys beyond the limit while existing keys keep aggregating", () => {
    const store = newStore({ maxKeys: 2 });
    expect(store.add(f({ key: { sourceName: "a" } }), NO_NODE)).toBe("stored");
    expect(store.add(f({ key: { sourceName: "b" } }), NO_NODE)).toBe("stored");
    expect(store.add(f({ key: { sourceName: "c" } }), NO_NODE)).toBe("max_unique_flows");
    expect(store.keyCount).toBe(2);
    expect(store.add(f({ key: { sourceName: "a" } }), NO_NODE)).toBe("stored");
    expect(store.add(f({ key: { sourceName: "b" }, startSec: T0 }), NO_NODE)).toBe("stored");
    expect(windowsOf(store, flowKey({ sourceName: "a" }))[0]!.counters).toEqual(scaledCounters(2));
    expect(windowsOf(store, flowKey({ sourceName: "b" }))).toHaveLength(2);
    expect(idOf(store, flowKey({ sourceName: "c" }))).toBeUndefined();
  });

  it("admits new keys again once old ones expire", () => {
    const store = newStore({ maxKeys: 1 });
    expect(store.add(f({ key: { sourceName: "a" }, startSec: T0 - 3600 }), NO_NODE)).toBe("stored");
    expect(store.add(f({ key: { sourceName: "b" }, startSec: T0 }), NO_NODE)).toBe("max_unique_flows");
    store.advanceTo(T0 + W);
    expect(store.add(f({ key: { sourceName: "b" }, startSec: T0 }), NO_NODE)).toBe("stored");
    expect(idOf(store, flowKey({ sourceName: "b" }))).toBe(2);
  });
});

describe("FlowStore dedup claims", () => {
  const t = T0 - 60;

  it("ignores a repeat of the same key/start/end from the same node, counters and labels untouched", () => {
    const store = newStore();
    expect(store.add(f({ startSec: t }), 7)).toBe("stored");
    // Counters and labels are not part of the identity.
    expect(store.add(f({ startSec: t, counters: { packetsIn: 999 }, sourceLabels: ["other=1"] }), 7)).toBe("duplicate");
    const w = windowsOf(store)[0]!;
    expect(w.counters).toEqual(scaledCounters(1));
    expect(w.sourceLabels).toEqual(["app=client"]);
  });

  it("adds the same flow from another node", () => {
    const store = newStore();
    expect(store.add(f({ startSec: t }), 1)).toBe("stored");
    expect(store.add(f({ startSec: t }), 2)).toBe("stored");
    expect(store.add(f({ startSec: t }), 3)).toBe("stored");
    expect(store.add(f({ startSec: t }), 2)).toBe("duplicate");
    expect(store.add(f({ startSec: t }), 3)).toBe("duplicate");
    expect(windowsOf(store)[0]!.counters).toEqual(scaledCounters(3));
  });

  it("adds the same node's report with a different end_time or start_time in the same bucket", () => {
    const store = newStore();
    expect(store.add(f({ startSec: t, endSec: t }), 1)).toBe("stored");
    expect(store.add(f({ startSec: t, endSec: t + 5 }), 1)).toBe("stored");
    expect(store.add(f({ startSec: t + 1, endSec: t + 5 }), 1)).toBe("stored");
    expect(store.add(f({ startSec: t, endSec: t + 5 }), 1)).toBe("duplicate");
    expect(store.add(f({ startSec: t + 1, endSec: t + 5 }), 1)).toBe("duplicate");
    expect(windowsOf(store)[0]!.counters).toEqual(scaledCounters(3));
  });

  it("keeps claims per key", () => {
    const store = newStore();
    expect(store.add(f({ startSec: t }), 1)).toBe("stored");
    expect(store.add(f({ startSec: t, key: { destPort: 9 } }), 1)).toBe("stored");
    expect(store.add(f({ startSec: t, key: { destPort: 9 } }), 1)).toBe("duplicate");
  });

  it("never deduplicates a flow without a node", () => {
    const store = newStore();
    for (let i = 0; i < 3; i++) expect(store.add(f({ startSec: t }), NO_NODE)).toBe("stored");
    expect(windowsOf(store)[0]!.counters).toEqual(scaledCounters(3));
    // A node-less report leaves no claim behind for a real node either.
    expect(store.add(f({ startSec: t }), 0)).toBe("stored");
    expect(store.add(f({ startSec: t }), 0)).toBe("duplicate");
  });

  it("holds a claim after 1 rollover and forgets it after 26 rollovers of 15 s (5 min horizon)", () => {
    const store = newStore({}, T0);
    const flow = f({ startSec: T0 + 3 }); // the filling bucket
    expect(store.add(flow, 1)).toBe("stored");
    store.advanceTo(T0 + W);
    expect(store.add(flow, 1)).toBe("duplicate");
    store.advanceTo(T0 + 26 * W);
    expect(store.add(flow, 1)).toBe("stored");
    expect(windowsOf(store)[0]!.counters).toEqual(scaledCounters(2));
  });

  it("keeps a claim for the whole replay horizon + W, and drops it after", () => {
    const horizon = 300;
    for (const startSec of [T0 - 1, T0, T0 + W]) {
      const store = newStore({ replayHorizonSec: horizon }, T0);
      const flow = f({ startSec });
      expect(store.add(flow, 1)).toBe("stored");
      // Still a duplicate while the flow's bucket started less than horizon + W ago.
      let now = T0;
      while (now + W <= startSec + horizon + W) {
        now += W;
        store.advanceTo(now);
        expect(store.add(flow, 1), `${startSec - T0} at +${now - T0}`).toBe("duplicate");
      }
      // Some rollovers later the claim is gone (the bucket still exists, so the flow adds).
      store.advanceTo(startSec + horizon + 4 * W);
      expect(store.add(flow, 1)).toBe("stored");
    }
  });

  it("keeps claims as long as the bucket exists when the ring is shorter than the horizon", () => {
    const store = newStore({ windowSec: 1, historyBuckets: 10, replayHorizonSec: 300 }, T0);
    const flow = f({ startSec: T0 });
    expect(store.add(flow, 1)).toBe("stored");
    for (let i = 1; i <= 10; i++) {
      store.advanceTo(T0 + i);
      expect(store.add(flow, 1)).toBe("duplicate");
    }
    store.advanceTo(T0 + 11);
    expect(store.add(flow, 1)).toBe("out_of_window");
  });

  it("remembers many claims on one window", () => {
    const store = newStore();
    for (let node = 0; node < 50; node++) expect(store.add(f({ startSec: t, endSec: t + node }), node)).toBe("stored");
    for (let node = 0; node < 50; node++) expect(store.add(f({ startSec: t, endSec: t + node }), node)).toBe("duplicate");
    expect(store.add(f({ startSec: t, endSec: t + 1 }), 0)).toBe("stored");
    expect(windowsOf(store)[0]!.counters).toEqual(scaledCounters(51));
  });
});

describe("FlowStore bookkeeping", () => {
  it("releases interned label sets and strings when keys expire", () => {
    const store = newStore({ historyBuckets: 2 }, T0);
    const baseLabels = store.labels.size;
    const basePool = store.pool.size;
    for (let i = 0; i < 20; i++) {
      store.add(f({ key: { sourceName: `pod-${i}` }, startSec: T0, sourceLabels: [`pod=${i}`] }), NO_NODE);
    }
    expect(store.pool.size).toBeGreaterThan(basePool);
    store.advanceTo(T0 + 4 * W);
    expect(store.keyCount).toBe(0);
    expect(store.labels.size).toBe(baseLabels);
    expect(store.pool.size).toBe(basePool);
  });
});
