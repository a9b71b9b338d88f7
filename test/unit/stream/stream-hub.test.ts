import { describe, expect, it } from "vitest";
import { StreamEndedError, type StreamSubscription } from "../../../src/stream/index.js";
import { T0 } from "../../helpers/flow-fixtures.js";
import { buckets, drain, streamHarness, takeAll, type Seen } from "./harness.js";

// T0 is a multiple of W = 15: the filling bucket is [T0, T0+15), the streaming bucket [T0−15, T0)
// and the newest ready bucket [T0−30, T0−15).
const W = 15;

const pairs = (rows: Seen[]) => rows.map((r) => `${r.start - T0}:${r.src}`);

function endedWith(sub: StreamSubscription): StreamEndedError {
  try {
    sub.take();
  } catch (e) {
    if (e instanceof StreamEndedError) return e;
    throw e;
  }
  throw new Error("stream did not end");
}

describe("StreamHub backfill", () => {
  it("start 0: no backfill; each rollover at R then sends [R−2W, R−W)", () => {
    const h = streamHarness();
    for (const s of [-60, -30, -15, 0]) h.ingest({ startSec: T0 + s, key: { sourceName: `a${s}` } });
    const sub = h.open(null);
    expect(drain(h, sub)).toEqual([]);
    h.advance(W); // rollover at T0+15
    expect(drain(h, sub)).toEqual([{ id: 3, start: T0 - 15, end: T0, src: "a-15", dst: "server-*", packetsIn: 1 }]);
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["0:a0"]);
    h.advance(W);
    expect(drain(h, sub)).toEqual([]);
  });

  it("backfills from the bucket containing start_time_gte through [R−2W, R−W), oldest first, one row per key per bucket", () => {
    const h = streamHarness();
    for (const s of [-75, -60, -45, -30, -15, 0]) h.ingest({ startSec: T0 + s + 2, key: { sourceName: "a" } });
    h.ingest({ startSec: T0 - 45, key: { sourceName: "b" } });
    h.ingest({ startSec: T0 - 44, key: { sourceName: "b" } }); // same key, same bucket: one row
    const sub = h.open(T0 - 50); // mid-bucket [T0−60, T0−45)
    const rows = drain(h, sub);
    expect(pairs(rows)).toEqual(["-60:a", "-45:a", "-45:b", "-30:a"]);
    expect(rows.every((r) => r.end === r.start + W)).toBe(true);
    expect(rows.filter((r) => r.src === "b")[0]!.packetsIn).toBe(2);
    expect(new Set(rows.filter((r) => r.src === "a").map((r) => r.id))).toEqual(new Set([1]));
    // The live batches continue exactly where the backfill stopped.
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["-15:a"]);
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["0:a"]);
  });

  it("clamps a start older than the ring to the oldest bucket (DESIGN §4: never silently nothing)", async () => {
    const h = streamHarness();
    const oldest = h.agg.store.ring.oldestStart;
    expect(oldest).toBe(T0 - 240 * W);
    h.ingest({ startSec: oldest, key: { sourceName: "oldest" } });
    h.ingest({ startSec: T0 - 30, key: { sourceName: "newest" } });
    const sub = h.open(T0 - 100_000);
    const rows = drain(h, sub);
    expect(rows.map((r) => [r.start, r.src])).toEqual([
      [oldest, "oldest"],
      [T0 - 30, "newest"],
    ]);
    expect(await h.metric("goldmane_aggr_backfill_latency_ms")).toBeGreaterThan(0); // the summary's sum
  });

  it("a start in the streaming bucket backfills nothing; its bucket comes with the next rollover", () => {
    const h = streamHarness();
    h.ingest({ startSec: T0 - 30, key: { sourceName: "ready" } });
    h.ingest({ startSec: T0 - 15, key: { sourceName: "streaming" } });
    const sub = h.open(T0 - 10);
    expect(drain(h, sub)).toEqual([]);
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["-15:streaming"]);
  });

  it("a start in the current or future bucket waits for that bucket and never sends older ones", () => {
    const h = streamHarness();
    for (const s of [-30, -15, 0, 15]) h.ingest({ startSec: T0 + s, key: { sourceName: `k${s}` } });
    const inCurrent = h.open(T0 + 3);
    const inFuture = h.open(T0 + 20);
    expect(drain(h, inCurrent)).toEqual([]);
    h.advance(W); // [T0−15, T0) ready: before both starts
    expect(drain(h, inCurrent)).toEqual([]);
    expect(drain(h, inFuture)).toEqual([]);
    h.advance(W); // [T0, T0+15) ready
    expect(pairs(drain(h, inCurrent))).toEqual(["0:k0"]);
    expect(drain(h, inFuture)).toEqual([]);
    h.advance(W); // [T0+15, T0+30) ready
    expect(pairs(drain(h, inCurrent))).toEqual(["15:k15"]);
    expect(pairs(drain(h, inFuture))).toEqual(["15:k15"]);
  });
});

describe("StreamHub live batches", () => {
  it("carries that bucket's counters and labels (strict intersection) and the key's id", () => {
    const h = streamHarness();
    h.ingest({ startSec: T0 - 40, key: { sourceName: "other" } }); // id 1
    h.ingest({ startSec: T0 - 15, sourceLabels: ["app=a", "x=1"], counters: { packetsIn: 1 } });
    h.ingest({ startSec: T0 - 14, sourceLabels: ["app=a"], counters: { packetsIn: 2 } });
    h.ingest({ startSec: T0 - 40 }); // the same key's previous bucket: not in this batch
    const sub = h.open(null);
    h.advance(W);
    h.runAll();
    const r = sub.take()!;
    expect(sub.take()).toBeUndefined();
    const f = r.flow!;
    expect(r.id).toBe(2n);
    expect([f.startTime, f.endTime]).toEqual([BigInt(T0 - 15), BigInt(T0)]);
    expect(f.sourceLabels).toEqual(["app=a"]);
    expect(f.destLabels).toEqual(["app=server"]);
    expect([f.packetsIn, f.packetsOut, f.bytesIn, f.bytesOut]).toEqual([3n, 4n, 200n, 400n]);
    expect([f.numConnectionsStarted, f.numConnectionsCompleted, f.numConnectionsLive]).toEqual([6n, 8n, 10n]);
    expect(f.Key!.policies!.enforcedPolicies.map((p) => p.name)).toEqual(["allow-all"]);
  });

  it("sends every bucket once and in order when one tick rolls over several times", () => {
    const h = streamHarness();
    for (const s of [-15, 0, 15]) h.ingest({ startSec: T0 + s, key: { sourceName: `k${s}` } });
    const sub = h.open(null);
    h.advance(3 * W);
    expect(pairs(drain(h, sub))).toEqual(["-15:k-15", "0:k0", "15:k15"]);
  });

  it("does not re-send data that arrives for a bucket already streamed", () => {
    const h = streamHarness();
    h.ingest({ startSec: T0 - 15, key: { sourceName: "a" } });
    const sub = h.open(null);
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["-15:a"]);
    expect(h.ingest({ startSec: T0 - 15, key: { sourceName: "late" } })).toBe("stored");
    expect(h.ingest({ startSec: T0 - 13, key: { sourceName: "a" } })).toBe("stored");
    h.ingest({ startSec: T0, key: { sourceName: "b" } });
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["0:b"]);
  });

  it("filters backfill and live batches with the List rules", () => {
    const h = streamHarness();
    const keys = [
      { sourceName: "a", destName: "server-1", proto: "tcp" },
      { sourceName: "b", destName: "server-2", proto: "udp" },
      { sourceName: "pub", destName: "server-1", proto: "udp" },
    ];
    for (const s of [-30, -15]) for (const key of keys) h.ingest({ startSec: T0 + s, key });
    const byDest = h.open(T0 - 30, { destNames: [{ value: "server-1", fuzzy: false }] });
    const byAlias = h.open(T0 - 30, { sourceNames: [{ value: "PUBLIC", fuzzy: true }] });
    const both = h.open(T0 - 30, { destNames: [{ value: "server-", fuzzy: true }], protocols: [{ value: "udp", fuzzy: false }] });
    const none = h.open(T0 - 30, { destPorts: [9999] });
    h.advance(W);
    expect(pairs(drain(h, byDest))).toEqual(["-30:a", "-30:pub", "-15:a", "-15:pub"]);
    expect(pairs(drain(h, byAlias))).toEqual(["-30:pub", "-15:pub"]);
    expect(pairs(drain(h, both))).toEqual(["-30:b", "-30:pub", "-15:b", "-15:pub"]);
    expect(drain(h, none)).toEqual([]);
  });
});

describe("StreamHub: rollover during a backfill", () => {
  it("a rollover between subscription and the first slice neither repeats nor skips a bucket", () => {
    const h = streamHarness();
    for (const s of [-45, -30, -15, 0]) h.ingest({ startSec: T0 + s, key: { sourceName: `k${s}` } });
    const sub = h.open(T0 - 45);
    h.advance(W); // [T0−15, T0) became ready before anything was rendered
    expect(pairs(drain(h, sub))).toEqual(["-45:k-45", "-30:k-30", "-15:k-15"]);
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["0:k0"]);
  });

  it("a sliced backfill interrupted by rollovers and late data stays gap-free and duplicate-free", () => {
    const h = streamHarness({ sliceRows: 2, readAhead: 2 });
    const starts = [-60, -45, -30, -15];
    for (const s of starts) for (let k = 0; k < 5; k++) h.ingest({ startSec: T0 + s, key: { sourceName: `k${k}` } });
    const sub = h.open(T0 - 60);
    expect(h.pending()).toBe(1);
    h.runAll(); // renders ahead up to readAhead, then pauses for the consumer
    expect(sub.queued).toBe(2);
    expect(h.pending()).toBe(0);
    const got = takeAll(sub);
    expect(pairs(got)).toEqual(["-60:k0", "-60:k1"]);
    h.advance(W); // [T0−15, T0) becomes ready in the middle of the backfill
    expect(h.ingest({ startSec: T0 - 58, key: { sourceName: "k0" } })).toBe("stored"); // already sent
    h.ingest({ startSec: T0 - 59, key: { sourceName: "late" } }); // new in the bucket being sent
    h.ingest({ startSec: T0 - 45, key: { sourceName: "late" } }); // bucket not reached yet
    h.ingest({ startSec: T0, key: { sourceName: "live" } });
    got.push(...drain(h, sub));
    const expected = [
      ...["k0", "k1", "k2", "k3", "k4", "late"].map((k) => `-60:${k}`),
      ...["k0", "k1", "k2", "k3", "k4", "late"].map((k) => `-45:${k}`),
      ...["k0", "k1", "k2", "k3", "k4"].map((k) => `-30:${k}`),
      ...["k0", "k1", "k2", "k3", "k4"].map((k) => `-15:${k}`),
    ];
    expect(pairs(got)).toEqual(expected);
    expect(got.find((r) => r.start === T0 - 60 && r.src === "k0")!.packetsIn).toBe(1);
    h.advance(W);
    expect(pairs(drain(h, sub))).toEqual(["0:live"]);
  });

  it("renders a large backfill in slices, yielding to the event loop between them", () => {
    const h = streamHarness({ sliceRows: 10 });
    for (let k = 0; k < 100; k++) h.ingest({ startSec: T0 - 30, key: { sourceName: `k${k}` } });
    const sub = h.open(T0 - 30);
    expect(h.runAll()).toBeGreaterThanOrEqual(10);
    expect(takeAll(sub)).toHaveLength(100);
  });
});

describe("StreamHub slow consumers", () => {
  it("ends a live stream whose queue passes its bound with RESOURCE_EXHAUSTED-class error, counted; others go on", async () => {
    const h = streamHarness({ queueSize: 3, sliceRows: 2 });
    const slow = h.open(null);
    const fast = h.open(null);
    for (let k = 0; k < 5; k++) h.ingest({ startSec: T0 - 15, key: { sourceName: `k${k}` } });
    h.advance(W);
    const got: Seen[] = [];
    while (h.step()) got.push(...takeAll(fast));
    got.push(...takeAll(fast));
    expect(got).toHaveLength(5);
    const err = endedWith(slow);
    expect(err.reason).toBe("queue_full");
    expect(err.message).toMatch(/^consumer too slow/);
    expect(await h.metric("tributary_stream_overflows_total", { reason: "queue_full" })).toBe(1);
    expect(await h.metric("goldmane_num_streams")).toBe(1);
    expect(h.hub.size).toBe(1);
    // Ingest was never slowed or refused, and the fast stream keeps receiving.
    h.ingest({ startSec: T0, key: { sourceName: "next" } });
    h.advance(W);
    expect(pairs(drain(h, fast))).toEqual(["0:next"]);
    expect(await h.metric("tributary_stream_results_sent_total")).toBe(6);
  });

  it("a backfill larger than the queue paces itself on the consumer instead of overflowing", async () => {
    const h = streamHarness({ queueSize: 3 });
    for (let k = 0; k < 10; k++) h.ingest({ startSec: T0 - 30, key: { sourceName: `k${k}` } });
    const sub = h.open(T0 - 30);
    h.runAll();
    expect(sub.queued).toBe(3);
    expect(drain(h, sub)).toHaveLength(10);
    expect(await h.metric("tributary_stream_overflows_total")).toBe(0);
  });

  it("ends a stream whose next bucket was recycled before it was sent (no silent gap)", async () => {
    const h = streamHarness({ readAhead: 1 }, { historyBuckets: 4 });
    expect(h.agg.store.ring.oldestStart).toBe(T0 - 60);
    for (const s of [-60, -45, -30]) for (const k of ["a", "b"]) h.ingest({ startSec: T0 + s, key: { sourceName: k } });
    const sub = h.open(T0 - 60);
    h.runAll();
    expect(sub.queued).toBe(1); // paused: the consumer is not reading
    h.advance(2 * W); // [T0−60, T0−45) and [T0−45, T0−30) are recycled
    h.runAll();
    const err = endedWith(sub);
    expect(err.reason).toBe("expired");
    expect(err.message).toContain(`bucket starting at ${T0 - 60} expired`);
    expect(await h.metric("tributary_stream_overflows_total", { reason: "expired" })).toBe(1);
    expect(h.hub.size).toBe(0);
  });

  it("ends live streams after a clock jump longer than the ring instead of skipping silently", () => {
    const h = streamHarness({}, { historyBuckets: 4 });
    const sub = h.open(null);
    h.advance(100 * W);
    h.advance(W);
    h.runAll();
    expect(endedWith(sub).reason).toBe("expired");
  });
});

describe("StreamHub limits and lifecycle", () => {
  it("refuses more than maxStreams with Goldmane's message; a closed stream frees its slot at once", async () => {
    const h = streamHarness({ maxStreams: 2 });
    const a = h.open(null);
    h.open(T0 - 60);
    expect(await h.metric("goldmane_num_streams")).toBe(2);
    let err: unknown;
    try {
      h.open(null);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StreamEndedError);
    expect((err as StreamEndedError).reason).toBe("max_streams");
    expect((err as StreamEndedError).message).toBe("max number of streams reached, try again later");
    a.close();
    a.close();
    expect(await h.metric("goldmane_num_streams")).toBe(1);
    expect(() => h.open(null)).not.toThrow();
  });

  it("close() drops the queue and stops rendering for that stream", () => {
    const h = streamHarness({ sliceRows: 5 });
    for (let k = 0; k < 50; k++) h.ingest({ startSec: T0 - 30, key: { sourceName: `k${k}` } });
    const sub = h.open(T0 - 30);
    h.step();
    expect(sub.queued).toBe(5);
    sub.close();
    expect(sub.queued).toBe(0);
    expect(sub.take()).toBeUndefined();
    expect(h.runAll()).toBeLessThanOrEqual(1);
    expect(h.pending()).toBe(0);
    expect(h.hub.size).toBe(0);
  });

  it("wait() resolves when a result is queued, when the signal aborts and when the hub closes", async () => {
    const h = streamHarness();
    const sub = h.open(null);
    let woke = false;
    const p = sub.wait().then(() => (woke = true));
    h.ingest({ startSec: T0 - 15 });
    h.advance(W);
    await Promise.resolve();
    expect(woke).toBe(false);
    h.runAll();
    await p;
    expect(sub.queued).toBe(1);
    sub.take();

    const ac = new AbortController();
    const aborted = sub.wait(ac.signal);
    ac.abort();
    await aborted;

    const closing = sub.wait();
    h.hub.close();
    await closing;
    expect(endedWith(sub).reason).toBe("closed");
    expect(() => h.open(null)).toThrow(StreamEndedError);
    expect(h.hub.size).toBe(0);
  });
});
