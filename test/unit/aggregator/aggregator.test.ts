import { describe, expect, it } from "vitest";
import { flowFromUpdate } from "../../../src/model/convert.js";
import { T0, countersOf, flowUpdate, protoHit, scaledCounters, testAggregator } from "../../helpers/flow-fixtures.js";

const W = 15;
const REJECTED = "tributary_rejected_flows_total";
const DUPLICATES = "tributary_duplicate_flows_total";
const DROPPED = "goldmane_aggr_dropped_flows_total";
const RECEIVED = "goldmane_aggr_received_flows_total";
const UNIQUE = "goldmane_aggr_num_unique_flows";
const KEY_BUCKETS = "tributary_key_buckets";

describe("aggregator: ring and rollover driven by the manual clock", () => {
  it("covers the past hour from the moment it starts: 240 history buckets + filling + future", () => {
    const t = testAggregator({}, T0 + 5);
    const ring = t.agg.store.ring;
    expect(ring.currentStart).toBe(T0);
    expect(ring.oldestStart).toBe(T0 - 240 * W);
    expect(ring.endSec).toBe(T0 + 2 * W);
    expect(t.ingest({ startSec: T0 - 3600 })).toBe("stored");
    expect(t.ingest({ startSec: T0 + 29 })).toBe("stored");
  });

  it("drops and counts flows outside [oldest, future end), still counting them as received", async () => {
    const t = testAggregator();
    expect(t.ingest({ startSec: T0 - 3601 })).toBe("out_of_window");
    expect(t.ingest({ startSec: T0 + 30 })).toBe("out_of_window");
    expect(t.ingest({ startSec: 0 })).toBe("out_of_window");
    expect(t.ingest({ startSec: T0 - 60 })).toBe("stored");
    expect(await t.metric(REJECTED, { reason: "out_of_window" })).toBe(3);
    expect(await t.metric(RECEIVED)).toBe(4);
    expect(await t.metric(DROPPED)).toBe(0);
    expect(t.agg.store.keyCount).toBe(1);
  });

  it("rolls over once per W boundary when ticked, reporting the bucket ready to stream", () => {
    const t = testAggregator();
    const ready: number[] = [];
    t.agg.onReady((b) => ready.push(b));
    t.advance(14);
    expect(ready).toEqual([]);
    expect(t.agg.store.ring.currentStart).toBe(T0);
    t.advance(1); // T0 + 15
    expect(ready).toEqual([T0 - W]);
    expect(t.agg.store.ring.currentStart).toBe(T0 + W);
    t.advance(0);
    expect(ready).toEqual([T0 - W]);
  });

  it("catches up several missed rollovers in one tick, oldest first", () => {
    const t = testAggregator();
    const ready: number[] = [];
    t.agg.onReady((b) => ready.push(b));
    t.ingest({ startSec: T0 - 3600 });
    t.ingest({ startSec: T0 - 3600 + 2 * W, key: { sourceName: "b" } });
    t.advance(3 * W + 7);
    expect(ready).toEqual([T0 - W, T0, T0 + W]);
    expect(t.agg.store.ring.currentStart).toBe(T0 + 3 * W);
    expect(t.agg.store.keyCount).toBe(0);
  });

  it("empties the ring after a clock jump longer than the ring, and carries on", async () => {
    const t = testAggregator();
    t.ingest({ startSec: T0 - 60 });
    t.ingest({ startSec: T0 + 20, key: { sourceName: "future" } });
    t.advance(10 * 3600);
    expect(t.agg.store.keyCount).toBe(0);
    expect(t.rows()).toEqual([]);
    expect(await t.metric(UNIQUE)).toBe(0);
    expect(await t.metric(KEY_BUCKETS)).toBe(0);
    expect(t.ingest({ startSec: T0 - 60 })).toBe("out_of_window");
    expect(t.ingest({ startSec: T0 + 10 * 3600 - 60 })).toBe("stored");
    expect(t.rows().map((r) => r.id)).toEqual([3]);
  });

  it("ignores a clock going backwards: nothing expires, nothing moves", () => {
    const t = testAggregator();
    t.ingest({ startSec: T0 - 60 });
    const ready: number[] = [];
    t.agg.onReady((b) => ready.push(b));
    t.clock.set(T0 - 7200);
    t.agg.tick();
    expect(ready).toEqual([]);
    expect(t.agg.store.ring.currentStart).toBe(T0);
    expect(t.ingest({ startSec: T0 - 30 })).toBe("stored");
    expect(t.agg.store.keyCount).toBe(1);
    // Back to normal time: the next boundary rolls over as usual.
    t.clock.set(T0 + W);
    t.agg.tick();
    expect(ready).toEqual([T0 - W]);
  });

  it("rolls over before ingesting when the clock has moved on (ingest ticks)", () => {
    const t = testAggregator();
    t.clock.advance(2 * W);
    // Without the implicit tick the ring would still end at T0 + 30.
    expect(t.ingest({ startSec: T0 + 3 * W })).toBe("stored");
    expect(t.agg.store.ring.currentStart).toBe(T0 + 2 * W);
    expect(t.ingest({ startSec: T0 - 3600 })).toBe("out_of_window");
  });

  it("keeps listeners independent: one that throws does not stop the others; unsubscribe works", () => {
    const t = testAggregator();
    const seen: number[] = [];
    t.agg.onReady(() => {
      throw new Error("boom");
    });
    const off = t.agg.onReady((b) => seen.push(b));
    t.advance(W);
    expect(seen).toEqual([T0 - W]);
    off();
    t.advance(W);
    expect(seen).toEqual([T0 - W]);
  });

  it("records the time of the last tick", () => {
    const t = testAggregator();
    t.advance(3);
    expect(t.agg.lastTickSec).toBe(T0 + 3);
    expect(t.agg.nowSec()).toBe(T0 + 3);
  });

  it("start() and stop() schedule and cancel the rollover timer without touching state", () => {
    const t = testAggregator();
    t.agg.start();
    t.agg.start();
    t.agg.stop();
    t.agg.stop();
    expect(t.agg.store.ring.currentStart).toBe(T0);
  });
});

describe("aggregator: ids and expiry", () => {
  it("numbers keys 1, 2, 3… and never reuses an id after expiry", () => {
    const t = testAggregator();
    t.ingest({ key: { sourceName: "a" }, startSec: T0 - 3600 });
    t.ingest({ key: { sourceName: "b" }, startSec: T0 - 60 });
    t.ingest({ key: { sourceName: "c" }, startSec: T0 - 45 });
    expect(t.rows().map((r) => [r.key.sourceName, r.id])).toEqual([
      ["c", 3],
      ["b", 2],
      ["a", 1],
    ]);
    t.advance(W);
    t.ingest({ key: { sourceName: "a" }, startSec: T0 - 30 });
    expect(t.rows().map((r) => [r.key.sourceName, r.id])).toEqual([
      ["a", 4],
      ["c", 3],
      ["b", 2],
    ]);
  });

  it("expires a key exactly when its last window leaves the ring", async () => {
    const t = testAggregator();
    t.ingest({ startSec: T0 - 3600 + 2 * W });
    t.advance(2 * W);
    expect(t.agg.store.keyCount).toBe(1);
    expect(await t.metric(UNIQUE)).toBe(1);
    expect(await t.metric(KEY_BUCKETS)).toBe(1);
    t.advance(W);
    expect(t.agg.store.keyCount).toBe(0);
    expect(await t.metric(UNIQUE)).toBe(0);
    expect(await t.metric(KEY_BUCKETS)).toBe(0);
  });
});

describe("aggregator: MAX_UNIQUE_FLOWS", () => {
  it("rejects and counts new keys beyond the limit; existing keys keep aggregating", async () => {
    const t = testAggregator({ maxUniqueFlows: 2 });
    expect(t.ingest({ key: { sourceName: "a" } })).toBe("stored");
    expect(t.ingest({ key: { sourceName: "b" } })).toBe("stored");
    expect(t.ingest({ key: { sourceName: "c" } })).toBe("max_unique_flows");
    expect(t.ingest({ key: { sourceName: "d" } })).toBe("max_unique_flows");
    expect(t.ingest({ key: { sourceName: "a" } }, "10.0.0.2")).toBe("stored");
    expect(await t.metric(DROPPED)).toBe(2);
    expect(await t.metric(REJECTED, { reason: "max_unique_flows" })).toBe(2);
    expect(await t.metric(UNIQUE)).toBe(2);
    expect(await t.metric(RECEIVED)).toBe(5);
    const rows = t.rows({ sortBy: [{ sortBy: 4 }] }); // SourceName
    expect(rows.map((r) => r.key.sourceName)).toEqual(["a", "b"]);
    expect(countersOf(rows[0]!)).toEqual(scaledCounters(2));
  });
});

describe("aggregator: dedup claims per node", () => {
  const s = T0 - 60;

  it("receipts but ignores a repeat of the same key/start/end from the same node", async () => {
    const t = testAggregator();
    expect(t.ingest({ startSec: s }, "10.0.0.1")).toBe("stored");
    expect(t.ingest({ startSec: s, counters: { bytesIn: 12345 } }, "10.0.0.1")).toBe("duplicate");
    expect(await t.metric(DUPLICATES)).toBe(1);
    expect(await t.metric(RECEIVED)).toBe(2);
    expect(countersOf(t.rows()[0]!)).toEqual(scaledCounters(1));
  });

  it("adds another node's report of the same flow", async () => {
    const t = testAggregator();
    expect(t.ingest({ startSec: s }, "10.0.0.1")).toBe("stored");
    expect(t.ingest({ startSec: s }, "10.0.0.2")).toBe("stored");
    expect(t.ingest({ startSec: s }, "node-b.example")).toBe("stored");
    expect(await t.metric(DUPLICATES)).toBe(0);
    expect(countersOf(t.rows()[0]!)).toEqual(scaledCounters(3));
  });

  it("adds the same node's report with a different end_time", () => {
    const t = testAggregator();
    expect(t.ingest({ startSec: s, endSec: s }, "10.0.0.1")).toBe("stored");
    expect(t.ingest({ startSec: s, endSec: s + 10 }, "10.0.0.1")).toBe("stored");
    expect(countersOf(t.rows()[0]!)).toEqual(scaledCounters(2));
  });

  it("never deduplicates a flow from an unknown (empty) node", async () => {
    const t = testAggregator();
    for (let i = 0; i < 3; i++) expect(t.ingest({ startSec: s }, "")).toBe("stored");
    expect(await t.metric(DUPLICATES)).toBe(0);
    expect(countersOf(t.rows()[0]!)).toEqual(scaledCounters(3));
  });

  it("recognises a replay after a 'reconnect' (same node identity)", () => {
    const t = testAggregator();
    const flows = [T0 - 120, T0 - 90, T0 - 60, T0 - 30].map((startSec) => ({ startSec }));
    for (const f of flows) expect(t.ingest(f, "10.0.0.7")).toBe("stored");
    t.advance(W);
    for (const f of flows) expect(t.ingest(f, "10.0.0.7")).toBe("duplicate");
    expect(countersOf(t.rows()[0]!)).toEqual(scaledCounters(4));
  });

  it("holds a claim after 1 rollover and forgets it after 26 rollovers of 15 s (5 min horizon)", async () => {
    const t = testAggregator({ replayHorizonSec: 300 });
    const flow = { startSec: T0 + 1 }; // the filling bucket
    expect(t.ingest(flow, "10.0.0.1")).toBe("stored");
    t.advance(W);
    expect(t.ingest(flow, "10.0.0.1")).toBe("duplicate");
    for (let i = 1; i < 26; i++) t.advance(W);
    expect(t.ingest(flow, "10.0.0.1")).toBe("stored");
    expect(await t.metric(DUPLICATES)).toBe(1);
  });

  it("holds claims for the full replay horizon", () => {
    const t = testAggregator({ replayHorizonSec: 300 });
    const flow = { startSec: T0 + 1 };
    expect(t.ingest(flow, "10.0.0.1")).toBe("stored");
    // Agents replay what they sent in the last 5 minutes: every replay within that is a duplicate.
    for (let elapsed = W; elapsed <= 300; elapsed += W) {
      t.advance(W);
      expect(t.ingest(flow, "10.0.0.1"), `after ${elapsed} s`).toBe("duplicate");
    }
  });
});

describe("aggregator: malformed updates", () => {
  it("counts rejections by reason", async () => {
    const t = testAggregator();
    const reasons: string[] = [];
    for (const u of [
      flowUpdate({ flow: { Key: undefined } }),
      flowUpdate({ flow: { bytesIn: -1n } }),
      flowUpdate({ flow: { bytesIn: -2n } }),
      flowUpdate({ flow: { packetsOut: 2n ** 53n } }),
      flowUpdate({ key: { policies: { enforcedPolicies: [protoHit({ kind: 10 })] } } }),
    ]) {
      const r = flowFromUpdate(u);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        t.agg.reject(r.reason, "10.0.0.1");
        reasons.push(r.reason);
      }
    }
    expect(reasons).toEqual(["missing_key", "negative_counter", "negative_counter", "counter_too_large", "end_of_tier_without_trigger"]);
    expect(await t.metric(REJECTED, { reason: "missing_key" })).toBe(1);
    expect(await t.metric(REJECTED, { reason: "negative_counter" })).toBe(2);
    expect(await t.metric(REJECTED, { reason: "counter_too_large" })).toBe(1);
    expect(await t.metric(REJECTED, { reason: "end_of_tier_without_trigger" })).toBe(1);
    expect(await t.metric(RECEIVED)).toBe(0);
    expect(t.agg.store.keyCount).toBe(0);
  });

  it("stores a canonicalised flow: hits in another order aggregate into one key", () => {
    const t = testAggregator();
    const h = (name: string, policyIndex: bigint) => protoHit({ name, policyIndex });
    for (const order of [
      [h("a", 0n), h("b", 1n)],
      [h("b", 1n), h("a", 0n)],
    ]) {
      const r = flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: order } } }));
      if (!r.ok) throw new Error(r.reason);
      expect(t.agg.ingest(r.flow, "")).toBe("stored");
    }
    const rows = t.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key.enforced.map((x) => x.name)).toEqual(["a", "b"]);
    expect(countersOf(rows[0]!)).toEqual(scaledCounters(2));
  });
});
