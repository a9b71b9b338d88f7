import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Flows, Statistics } from "../../src/gen/goldmane/api_pb.js";
import type { IngestFlow } from "../../src/model/flow.js";
import { ANY_STRING, compileFilter, MATCH_ALL, type FilterSpec } from "../../src/query/filter.js";
import { filterHints } from "../../src/query/filter-hints.js";
import { listFlows, type ListQuery, type ListSort } from "../../src/query/list.js";
import { listStatistics, seriesRow, type StatisticsAnswer, type StatisticsQuery } from "../../src/query/statistics.js";
import { ingestFlow, policyHit } from "../helpers/flow-fixtures.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";

const W = 15;
const T0 = 1_700_002_800; // a whole hour (and 5 minutes)
let pg: TestPostgres;
let dbCount = 0;
const servers: TestServer[] = [];

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.destroy();
}, 60_000);
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
}, 60_000);

/** A fresh database on the shared cluster, so each test starts empty. */
function freshDb(): { url: string; db: string } {
  const db = `t${++dbCount}`;
  pg.psql(`CREATE DATABASE ${db}`);
  return { url: pg.url.replace(/\/postgres$/, `/${db}`), db };
}

async function historyServer(url: string, env: Record<string, string> = {}, at = T0): Promise<TestServer> {
  const ts = await startTestServer({ HISTORY_POSTGRES_URL: url, ...env }, at);
  servers.push(ts);
  return ts;
}

/** Deterministic pseudo-random numbers (seeded), so a failure reproduces. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Flows over buckets [from, to): keys across namespaces, policies, labels that change. */
function workload(from: number, to: number, seed = 7): IngestFlow[] {
  const r = rng(seed);
  const out: IngestFlow[] = [];
  const names = ["api", "web", "db", "cache", "pub", "pvt"];
  const nss = ["shop", "pay", "Global", "default"];
  for (let b = from; b < to; b += W) {
    for (let k = 0; k < 12; k++) {
      if (r() < 0.3) continue;
      const deny = k % 5 === 0;
      out.push(
        ingestFlow({
          startSec: b,
          endSec: b + W,
          key: {
            sourceName: names[k % names.length]!,
            sourceNamespace: nss[k % nss.length]!,
            destName: names[(k * 7) % names.length]!,
            destNamespace: nss[(k + 1) % nss.length]!,
            destPort: 80 + (k % 3),
            action: deny ? 2 : 1,
            enforced: deny
              ? [policyHit({ kind: 10, name: "", namespace: "", tier: "sec", action: 2, policyIndex: 0, ruleIndex: -1, trigger: policyHit({ name: "deny-x", tier: "sec" }) })]
              : [policyHit({ name: `allow-${k % 3}`, ruleIndex: k % 2 })],
            pending: k % 4 === 0 ? [policyHit({ kind: 3, name: "staged", action: 2 })] : [],
          },
          sourceLabels: r() < 0.2 ? ["app=x", "tier=a"] : ["app=x", "tier=a", "v=1"],
          destLabels: [`svc=${k}`],
          counters: { packetsIn: 1 + Math.floor(r() * 100), bytesIn: Math.floor(r() * 1e6), numConnectionsLive: k },
        }),
      );
    }
  }
  return out;
}

/** Moves the server's clock one window at a time (every rollover reports a ready bucket). */
function advance(ts: TestServer, seconds: number) {
  for (let t = 0; t < seconds; t += W) {
    ts.clock.advance(W);
    ts.server.aggregator.tick();
  }
}

async function drained(ts: TestServer) {
  expect(await ts.server.history!.writer.drain(60_000)).toBe(true);
}

const statRows = (a: StatisticsAnswer) => Array.from({ length: a.size }, (_, i) => seriesRow(a.series(i)));
const noId = (a: { rows: readonly { id: number; counters: ArrayLike<number> }[]; meta: unknown }) => ({ rows: a.rows.map(({ id: _id, ...rest }) => ({ ...rest, counters: Array.from(rest.counters) })), meta: a.meta });

describe("history in PostgreSQL (HISTORY_POSTGRES_URL)", () => {
  it(
    "writes every closed bucket and answers List, FilterHints and Statistics identically to memory for a range both hold",
    async () => {
      const { url, db } = freshDb();
      const ts = await historyServer(url);
      const agg = ts.server.aggregator;
      for (const f of workload(T0 - 3540, T0 - 30)) agg.ingest(f, "10.0.0.1");
      advance(ts, W); // the buckets written into the past are written at the next rollover
      await drained(ts);
      const h = ts.server.history!;
      // Raw rows = windows in memory; 5-minute and 1-hour rollups exist.
      const windows = agg.store.series.size;
      expect(Number(pg.psql("SELECT count(*) FROM tributary_flows_r15", db))).toBe(windows);
      expect(await metricValue(ts.registry, "tributary_history_rows_written_total", { resolution: "15" })).toBe(windows);
      expect(await metricValue(ts.registry, "tributary_history_rows_written_total", { resolution: "300" })).toBeGreaterThan(0);
      expect(await metricValue(ts.registry, "tributary_history_rows_written_total", { resolution: "3600" })).toBeGreaterThan(0);

      const now = agg.nowSec();
      const ranges = [
        { gteSec: T0 - 3300 - 7, ltSec: T0 - 100 }, // unaligned: raw edges, 5-minute and hourly tiles
        { gteSec: T0 - 3600, ltSec: T0 }, // whole hour
        { gteSec: T0 - 1000, ltSec: T0 - 950 },
      ];
      const filters: FilterSpec[] = [
        MATCH_ALL,
        { ...MATCH_ALL, sourceNamespaces: [{ value: "-", fuzzy: false }] },
        { ...MATCH_ALL, destNames: [{ value: "a", fuzzy: true }], actions: [1] },
        { ...MATCH_ALL, policies: [{ kind: 0, tier: { value: "sec", fuzzy: false }, namespace: ANY_STRING, name: ANY_STRING, action: 0 }] },
        { ...MATCH_ALL, pendingActions: [2] },
      ];
      const sorts: ListSort[] = ["time", "sourceName", "destNamespace"];
      let compared = 0;
      let statsCompared = 0;
      for (const range of ranges) {
        for (const f of filters) {
          for (const sort of sorts) {
            for (const intervalSec of [0, 60, 300, 3600]) {
              for (const page of [{ page: 0, pageSize: 0 }, { page: 1, pageSize: 7 }, { page: 99, pageSize: 7 }]) {
                const q: ListQuery = { range, filter: compileFilter(f), sort, page, intervalSec };
                const mem = listFlows(agg.store, q);
                const hist = await h.reader.list(q);
                expect(hist.resolutionSec).toBe(W);
                expect(noId(hist.answer)).toEqual(noId(mem));
                compared += mem.rows.length;
              }
            }
          }
        }
        for (const type of [1, 2, 3, 4, 5, 6, 7, 8]) {
          const q = { range, type, filter: compileFilter(MATCH_ALL), page: { page: 0, pageSize: 0 } };
          expect((await h.reader.filterHints(q)).answer).toEqual(filterHints(agg.store, q));
        }
        for (const groupBy of [0, 1]) {
          for (const timeSeries of [false, true]) {
            for (const type of [0, 1, 2]) {
              const q: StatisticsQuery = {
                range: { gteSec: Math.max(range.gteSec, agg.store.ring.oldestStart), ltSec: range.ltSec },
                type,
                groupBy,
                policyMatch: { kind: 0, tier: ANY_STRING, namespace: ANY_STRING, name: ANY_STRING, action: 0 },
                timeSeries,
              };
              const rows = statRows((await h.reader.statistics(q)).answer);
              expect(rows).toEqual(listStatistics(agg.store, agg.policyStats, q));
              statsCompared += rows.length;
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(1000);
      expect(statsCompared).toBeGreaterThan(50);
      expect(now).toBe(T0 + W);
    },
    180_000,
  );

  it(
    "answers a range older than memory over gRPC with the resolution in a header, fails it with UNAVAILABLE while PostgreSQL is down, and writes the backlog once when it is back",
    async () => {
      const { url, db } = freshDb();
      // Memory keeps 5 minutes; everything older is answered from PostgreSQL.
      const ts = await historyServer(url, { HISTORY_BUCKETS: "20" });
      const agg = ts.server.aggregator;
      let sent = 0;
      const live = (steps: number) => {
        for (let i = 0; i < steps; i++) {
          const now = agg.nowSec();
          for (const f of workload(now - W, now, 100 + i)) {
            agg.ingest(f, "10.0.0.1");
            sent += f.counters[0]!;
          }
          advance(ts, W);
        }
      };
      live(40);
      advance(ts, 2 * W); // the last live bucket becomes ready
      await drained(ts);
      const flows = createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl }));
      let header = "";
      const all = await flows.list(
        { startTimeGte: BigInt(-3600), pageSize: 0n },
        { onHeader: (h) => (header = h.get("tributary-resolution") ?? "") },
      );
      expect(header).toBe("15");
      expect(all.flows.reduce((a, f) => a + Number(f.flow!.packetsIn), 0)).toBe(sent);
      // A range inside memory is answered there (same header, the window).
      await flows.list({}, { onHeader: (h) => (header = h.get("tributary-resolution") ?? "") });
      expect(header).toBe("15");
      const stats = createClient(Statistics, createGrpcTransport({ baseUrl: ts.baseUrl }));
      let statsTotal = 0;
      for await (const r of stats.list({ startTimeGte: BigInt(-3600) })) statsTotal += r.allowedIn.length;
      expect(statsTotal).toBeGreaterThan(0);

      await pg.stop();
      try {
      live(10);
      // Ingest and in-memory queries go on; history queries fail with UNAVAILABLE.
      expect((await flows.list({})).flows.length).toBeGreaterThan(0);
      await expect(flows.list({ startTimeGte: BigInt(-3600) })).rejects.toMatchObject({ code: 14 });
      expect(await metricValue(ts.registry, "tributary_history_queue_buckets")).toBeGreaterThan(0);
      } finally {
        await pg.start();
      }
      advance(ts, 2 * W);
      await drained(ts);
      // Every bucket exactly once: the database holds what was sent, no more.
      expect(Number(pg.psql("SELECT sum(packets_in) FROM tributary_flows_r15", db))).toBe(sent);
      expect(Number(pg.psql("SELECT count(*) FROM (SELECT bucket, key_id FROM tributary_flows_r15 GROUP BY 1, 2 HAVING count(*) > 1) d", db))).toBe(0);
      const after = await flows.list({ startTimeGte: BigInt(-3600), pageSize: 0n });
      expect(after.flows.reduce((a, f) => a + Number(f.flow!.packetsIn), 0)).toBe(sent);
    },
    180_000,
  );

  it(
    "drops the oldest queued bucket with a metric when the queue is full",
    async () => {
      const { url } = freshDb();
      const ts = await historyServer(url, { HISTORY_QUEUE_BUCKETS: "3" });
      await pg.stop();
      try {
        advance(ts, 10 * W);
        expect(await metricValue(ts.registry, "tributary_history_dropped_buckets_total")).toBe(7);
        expect(await metricValue(ts.registry, "tributary_history_queue_buckets")).toBe(3);
      } finally {
        await pg.start();
      }
    },
    120_000,
  );

  it(
    "after a crash, the last hour comes back from PostgreSQL with its dedup claims, and the agents' replay counts nothing twice",
    async () => {
      const { url } = freshDb();
      const a = await historyServer(url);
      const flowsIn = workload(T0 - 3540, T0 - 30, 11);
      for (const f of flowsIn) a.server.aggregator.ingest(f, "10.0.0.1");
      advance(a, W);
      await drained(a);
      const range = { startTimeGte: BigInt(T0 - 3540), startTimeLt: BigInt(T0), pageSize: 0n };
      const before = await createClient(Flows, createGrpcTransport({ baseUrl: a.baseUrl })).list(range);
      // A crash: no snapshot, nothing written after this point.
      await a.close();
      servers.splice(servers.indexOf(a), 1);

      const b = await historyServer(url, {}, T0 + 2 * W);
      const flows = createClient(Flows, createGrpcTransport({ baseUrl: b.baseUrl }));
      const shape = (r: typeof before) => r.flows.map((f) => [f.flow!.Key!.sourceName, f.flow!.Key!.destName, f.flow!.startTime, f.flow!.endTime, f.flow!.packetsIn, f.flow!.bytesIn, f.flow!.sourceLabels]);
      const restored = await flows.list(range);
      expect(shape(restored)).toEqual(shape(before));
      // The agent replays what it sent in its last 5m30s: all already counted.
      for (const f of flowsIn.filter((f) => f.startSec >= T0 + 2 * W - 330)) b.server.aggregator.ingest(f, "10.0.0.1");
      expect(shape(await flows.list(range))).toEqual(shape(before));
      // A flow never delivered before the crash (another node's) is added.
      const missed = workload(T0 - 45, T0 - 30, 99)[0]!;
      b.server.aggregator.ingest(missed, "10.0.0.9");
      const total = (r: typeof before) => r.flows.reduce((s, f) => s + Number(f.flow!.packetsIn), 0);
      expect(total(await flows.list(range))).toBe(total(before) + missed.counters[0]!);
    },
    180_000,
  );

  it(
    "lets exactly one of two servers write, and the other take over when it goes away",
    async () => {
      const { url, db } = freshDb();
      const a = await historyServer(url);
      advance(a, W);
      await drained(a);
      const b = await historyServer(url);
      advance(b, W);
      expect(await metricValue(a.registry, "tributary_history_writer")).toBe(1);
      expect(await metricValue(b.registry, "tributary_history_writer")).toBe(0);
      await a.close();
      servers.splice(servers.indexOf(a), 1);
      const deadline = Date.now() + 20_000;
      while ((await metricValue(b.registry, "tributary_history_writer")) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(await metricValue(b.registry, "tributary_history_writer")).toBe(1);
      const f = workload(b.server.aggregator.nowSec() - W, b.server.aggregator.nowSec(), 5)[0]!;
      b.server.aggregator.ingest(f, "10.0.0.2");
      advance(b, 2 * W);
      await drained(b);
      expect(Number(pg.psql(`SELECT sum(packets_in) FROM tributary_flows_r15`, db))).toBe(f.counters[0]);
    },
    120_000,
  );

  it(
    "keeps each resolution for its retention by dropping whole partitions",
    async () => {
      const { url, db } = freshDb();
      const ts = await historyServer(url, { HISTORY_RETENTION_RAW: "1h", HISTORY_RETENTION_5M: "2h", HISTORY_RETENTION_1H: "3h" });
      const agg = ts.server.aggregator;
      const parts = (t: string) => Number(pg.psql(`SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = '${t}'`, db));
      // Four hours of traffic, one flow a minute.
      for (let i = 0; i < 4 * 60; i++) {
        const now = agg.nowSec();
        agg.ingest(workload(now - W, now, i)[0]!, "10.0.0.1");
        advance(ts, 60);
        if (i % 30 === 29) await drained(ts);
      }
      advance(ts, 300); // retention runs at most every 5 minutes
      advance(ts, W);
      await drained(ts);
      const now = agg.nowSec();
      expect(await metricValue(ts.registry, "tributary_history_partitions_dropped_total", { resolution: "15" })).toBeGreaterThan(0);
      expect(parts("tributary_flows_r15")).toBeLessThanOrEqual(2);
      expect(Number(pg.psql(`SELECT min(bucket) FROM tributary_flows_r15`, db))).toBeGreaterThanOrEqual(Math.floor((now - 3600) / 3600) * 3600);
      expect(Number(pg.psql(`SELECT min(bucket) FROM tributary_flows_r300`, db))).toBeLessThan(now - 3600);
      expect(Number(pg.psql(`SELECT min(bucket) FROM tributary_flows_r3600`, db))).toBeLessThan(now - 7200);
    },
    180_000,
  );
});
