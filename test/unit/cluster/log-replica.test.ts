import { toBinary } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createAggregator } from "../../../src/aggregator/aggregator.js";
import { aggregatorMetrics } from "../../../src/aggregator/metrics.js";
import { SinkError } from "../../../src/aggregator/ingest-sink.js";
import { createLogAppender } from "../../../src/cluster/log-appender.js";
import { createLogClock } from "../../../src/cluster/log-clock.js";
import { LogBatchWriter, LogEntryError, NodeNameCache, logEntryTimeMs, readLogEntry } from "../../../src/cluster/log-codec.js";
import { createLogReplica, type LogSource } from "../../../src/cluster/log-replica.js";
import { clusterMetrics } from "../../../src/cluster/metrics.js";
import { FlowUpdateSchema } from "../../../src/gen/goldmane/api_pb.js";
import { DecodeError } from "../../../src/model/wire-reader.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { DEFAULT_AGG_CONFIG } from "../../helpers/flow-fixtures.js";
import { wireUpdate } from "../../helpers/wire-flows.js";

const W = 15;
const T = 1_700_000_010;
const enc = (start: number, name = "a", packets = 1n) => toBinary(FlowUpdateSchema, wireUpdate(start, { sourceName: name }, { packetsIn: packets }));

describe("log codec", () => {
  it("round-trips records with their nodes and the receive time", () => {
    const w = new LogBatchWriter();
    const a = enc(T, "x");
    const b = enc(T, "y");
    const padded = new Uint8Array(a.length + 10);
    padded.set(a, 5);
    w.add("10.0.0.1", padded, 5, 5 + a.length);
    w.add("node-ü", b, 0, b.length);
    w.add("10.0.0.1", b, 0, b.length);
    const entry = w.seal(1_700_000_123_456);
    expect(w.count).toBe(0);
    const seen: [string, string][] = [];
    const n = readLogEntry(entry, (node, bytes, s, e) => seen.push([node, Buffer.from(bytes.subarray(s, e)).toString("hex")]));
    expect(n).toBe(3);
    expect(logEntryTimeMs(entry)).toBe(1_700_000_123_456);
    expect(seen).toEqual([
      ["10.0.0.1", Buffer.from(a).toString("hex")],
      ["node-ü", Buffer.from(b).toString("hex")],
      ["10.0.0.1", Buffer.from(b).toString("hex")],
    ]);
    // A time mark has no records.
    expect(readLogEntry(w.seal(5), () => expect.fail("no records"))).toBe(0);
  });

  it("refuses a truncated or foreign entry before visiting anything", () => {
    const w = new LogBatchWriter();
    const a = enc(T);
    w.add("n", a, 0, a.length);
    w.add("n", a, 0, a.length);
    const entry = w.seal(1);
    let visited = 0;
    expect(() => readLogEntry(entry.subarray(0, entry.length - 3), () => visited++)).toThrow(LogEntryError);
    expect(visited).toBe(0);
    const other = Buffer.from(entry);
    other[0] = 9;
    expect(() => readLogEntry(other, () => visited++)).toThrow(/version 9/);
  });
});

describe("node name cache", () => {
  it("reads the same names as a plain decode, across entries, through hash collisions and when full", () => {
    const names = new NodeNameCache(8);
    const entries: Buffer[] = [];
    const w = new LogBatchWriter();
    const a = enc(T);
    // 40 names over 5 entries with a cache of 8: hits, misses, and clears when it is full. FNV-1a
    // collides for "costarring" and "liquid": both must come back as themselves.
    const all = [...Array.from({ length: 38 }, (_, i) => `10.0.${i >> 3}.${i}-ü`), "costarring", "liquid"];
    for (let e = 0; e < 5; e++) {
      for (let i = 0; i < all.length; i++) if ((i + e) % 2 === 0 || i >= 38) w.add(all[i]!, a, 0, a.length);
      entries.push(w.seal(T * 1000 + e));
    }
    for (const entry of [...entries, ...entries]) {
      const plain: string[] = [];
      const cached: string[] = [];
      readLogEntry(entry, (node) => plain.push(node));
      readLogEntry(entry, (node) => cached.push(node), names);
      expect(cached).toEqual(plain);
      expect(cached).toContain("costarring");
      expect(cached).toContain("liquid");
    }
  });
});

describe("log appender", () => {
  const setup = (publish: (e: Buffer) => Promise<number>, batchMax = 1000, batchDelayMs = 1) => {
    const registry = new Registry();
    const metrics = clusterMetrics(registry);
    const entries: Buffer[] = [];
    const appender = createLogAppender(
      { batchDelayMs, batchMax, batchMaxBytes: 900 * 1024, tickIntervalMs: 60_000 },
      { publish: (e) => (entries.push(e), publish(e)), metrics, log: silentLogger() },
    );
    return { appender, entries, registry };
  };

  it("batches updates from many callers into one entry and settles them with the acknowledgement", async () => {
    let seq = 0;
    const { appender, entries } = setup(async () => ++seq);
    appender.start();
    await appender.flush();
    expect(appender.healthy).toBe(true);
    const u = enc(T);
    const p1 = appender.encoded(u, 0, u.length, "n1");
    const p2 = appender.encoded(u, 0, u.length, "n2");
    expect(p1).toBe(p2);
    await p1;
    expect(entries).toHaveLength(2); // the probe, then one batch
    expect(readLogEntry(entries[1]!, () => undefined)).toBe(2);
    await appender.stop();
  });

  it("measures how long receipts waited for the log: from a batch's first update to its acknowledgement", async () => {
    let seq = 0;
    let slow = false;
    const { appender, registry } = setup(
      async () => {
        if (slow) await new Promise((r) => setTimeout(r, 30));
        return ++seq;
      },
      1000,
      20,
    );
    appender.start();
    await appender.flush();
    slow = true;
    const u = enc(T);
    const t0 = performance.now();
    const first = appender.encoded(u, 0, u.length, "n1");
    expect(appender.encoded(u, 0, u.length, "n2")).toBe(first);
    await first;
    const waited = (performance.now() - t0) / 1000;
    type Values = { metricName?: string; value: number }[];
    const wait = (await registry.getSingleMetric("tributary_cluster_receipt_wait_seconds")!.get()).values as Values;
    const append = (await registry.getSingleMetric("tributary_cluster_append_latency_seconds")!.get()).values as Values;
    const sumOf = (vs: Values, name: string) => vs.find((v) => v.metricName === name)!.value;
    // One batch (the probe entry carries no updates and is not a batch).
    expect(sumOf(wait, "tributary_cluster_receipt_wait_seconds_count")).toBe(1);
    const w = sumOf(wait, "tributary_cluster_receipt_wait_seconds_sum");
    // The publish alone took 30 ms, and the batch waited 20 ms before it (timers may fire a
    // fraction of a millisecond early by performance.now()); no more than the test saw.
    const appended = sumOf(append, "tributary_cluster_append_latency_seconds_sum");
    expect(appended).toBeGreaterThanOrEqual(0.028);
    expect(w - appended).toBeGreaterThanOrEqual(0.018);
    expect(w).toBeLessThanOrEqual(waited + 0.001);
    await appender.stop();
  });

  it("seals at batchMax; a failed publish rejects its batch with UNAVAILABLE and refuses until a probe succeeds", async () => {
    let fail = false;
    let seq = 0;
    const { appender, registry } = setup(async () => {
      if (fail) throw new Error("timeout");
      return ++seq;
    }, 2);
    appender.start();
    await appender.flush();
    const u = enc(T);
    const a = appender.encoded(u, 0, u.length, "n");
    const b = appender.encoded(u, 0, u.length, "n");
    const c = appender.encoded(u, 0, u.length, "n");
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    await Promise.all([a, c]);
    fail = true;
    const d = appender.encoded(u, 0, u.length, "n");
    await expect(d).rejects.toBeInstanceOf(SinkError);
    expect(appender.healthy).toBe(false);
    await expect(appender.encoded(u, 0, u.length, "n")).rejects.toThrow(/unavailable/);
    expect((await registry.getSingleMetric("tributary_cluster_publish_failures_total")!.get()).values[0]!.value).toBe(1);
    await appender.stop();
  });

  it("throws DecodeError for bytes that are not a FlowUpdate (the call ends INVALID_ARGUMENT)", async () => {
    const { appender } = setup(async () => 1);
    expect(() => appender.encoded(new Uint8Array([0x0a, 0x05, 1]), 0, 3, "n")).toThrow(DecodeError);
    await appender.stop();
  });
});

describe("log replica: determinism", () => {
  /** A log in memory: entries written with receive times. */
  const makeLog = () => {
    const messages: { seq: number; data: Uint8Array; pending: number }[] = [];
    const append = (timeMs: number, updates: [string, Uint8Array][]) => {
      const w = new LogBatchWriter();
      for (const [node, u] of updates) w.add(node, u, 0, u.length);
      messages.push({ seq: messages.length + 1, data: w.seal(timeMs), pending: 0 });
    };
    return { messages, append };
  };
  const replica = (wallClockMs: number) => {
    const clock = createLogClock();
    const agg = createAggregator(DEFAULT_AGG_CONFIG, { clock, log: silentLogger(), metrics: aggregatorMetrics(new Registry()) });
    const source: LogSource = { bounds: async () => ({ first: 1, last: 0 }), read: async () => ({ async *[Symbol.asyncIterator]() {}, close: async () => {} }) };
    const r = createLogReplica({ source, aggregator: agg, clock, metrics: clusterMetrics(new Registry()), log: silentLogger(), nowMs: () => wallClockMs });
    return { agg, clock, r };
  };

  it("replicas with different wall clocks that apply the same log hold the same state; a snapshot replica too", () => {
    const log = makeLog();
    // Time moves only with the log: a rollover, a late flow outside the window, a replay.
    log.append(T * 1000, [["10.0.0.1", enc(T - 20, "a")], ["10.0.0.2", enc(T - 20, "a")]]);
    log.append((T + 3) * 1000, [["10.0.0.1", enc(T - 20, "a")]]); // a replay: a duplicate
    log.append((T + 2 * W) * 1000, []); // a time mark: rollovers
    log.append((T + 2 * W + 1) * 1000, [["10.0.0.3", enc(T - 250 * W, "old")], ["10.0.0.3", enc(T + W, "b", 7n)]]);
    const x = replica(Date.now());
    const y = replica(Date.now() + 3_600_000); // an hour ahead: must not matter
    for (const m of log.messages) {
      x.r.apply(m);
      y.r.apply(m);
    }
    expect(x.agg.nowSec()).toBe(T + 2 * W + 1);
    expect(x.agg.store.keyCount).toBe(2);
    expect(y.agg.snapshot().equals(x.agg.snapshot())).toBe(true);

    // A replica that starts from a snapshot after message 2 and applies the rest.
    const s = replica(0);
    const mid = replica(0);
    for (const m of log.messages.slice(0, 2)) mid.r.apply(m);
    s.clock.advanceToMs(mid.clock.nowMs());
    s.agg.restore(mid.agg.snapshot());
    for (const m of log.messages.slice(2)) s.r.apply(m);
    expect(s.agg.snapshot().equals(x.agg.snapshot())).toBe(true);
  });
});
