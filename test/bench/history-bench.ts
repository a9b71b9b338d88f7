/**
 * `npm run bench -- history` (issue 16 item 8): the PostgreSQL history on a throw-away cluster
 * started here (test/helpers/postgres.ts). COPY throughput of the real writer, List over the last
 * 24 h and 7 days and FilterHints over 7 days at 20 000 keys per bucket, and bytes on disk per
 * key-bucket per resolution.
 *
 * The query data is generated in SQL into exactly the periods a query's tiles read (the raw and
 * 5-minute edges, the hourly and daily middle): partitions outside a range are pruned by the
 * planner, so the other days would not be read anyway, and generating 115 M raw rows for 24 h is
 * more than this VM can write in a bench run.
 */
import { Registry } from "prom-client";
import pg from "pg";
import { COUNTERS } from "../../src/model/flow.js";
import { silentLogger } from "../../src/observability/logger.js";
import { compileFilter, MATCH_ALL } from "../../src/query/filter.js";
import type { ClosedBucket } from "../../src/history/bucket-data.js";
import { historyLevels } from "../../src/history/index.js";
import { historyMetrics } from "../../src/history/metrics.js";
import { createHistoryReader } from "../../src/history/reader.js";
import { ensurePartition, flowsTable, migrate, partitionSpan } from "../../src/history/schema.js";
import { createHistoryWriter } from "../../src/history/writer.js";
import { startPostgres } from "../helpers/postgres.js";
import { flowKey } from "../helpers/flow-fixtures.js";
import { percentile, type BenchRow } from "./report.js";

const W = 15;
const KEYS = 20_000;
const NOW = 1_700_006_400 + 7 * 86_400 + 1234; // not aligned to an hour or 5 minutes

function bucketOf(start: number): ClosedBucket {
  const n = KEYS;
  const counters = new Float64Array(n * COUNTERS);
  for (let i = 0; i < n * COUNTERS; i++) counters[i] = (i * 7919) % 1000;
  const keys = Array.from({ length: n }, (_, i) =>
    flowKey({ sourceName: `src-${i % 500}`, sourceNamespace: `ns-${i % 40}`, destName: `dst-${i % 300}`, destNamespace: `ns-${(i * 7) % 40}`, destPort: 1000 + i }),
  );
  return {
    start,
    memIds: Array.from({ length: n }, (_, i) => i + 1),
    keys,
    src: keys.map((_, i) => [`app=a${i % 50}`, "team=x"]),
    dst: keys.map((_, i) => [`app=b${i % 70}`]),
    counters,
    lines: [],
    lineCounters: new Float64Array(0),
    claims: [],
  };
}

/** Runs the history benchmarks; returns table rows. */
export async function benchHistory(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const db = await startPostgres();
  try {
    const levels = historyLevels(W);
    const metrics = historyMetrics(new Registry());
    const url = db.url;
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const c = await pool.connect();
    await migrate(c, W, levels);
    c.release();

    // COPY throughput: the real writer, 20 000 key-buckets per bucket, 24 buckets (2 minutes and
    // the 5-minute rollups they close), after one warm-up bucket that inserts the keys.
    const writer = createHistoryWriter(
      { url, windowSec: W, levels, retentionSec: levels.map(() => 400 * 86_400), queueBuckets: 1000 },
      { log: silentLogger(), metrics, nowSec: () => NOW },
    );
    writer.start();
    const first = Math.floor((NOW - 3600) / 300) * 300;
    const proto = bucketOf(first);
    writer.enqueue(proto);
    await writer.drain(600_000);
    const N = 24;
    const t0 = performance.now();
    for (let i = 1; i <= N; i++) writer.enqueue({ ...proto, start: first + i * W });
    await writer.drain(600_000);
    const sec = (performance.now() - t0) / 1000;
    await writer.stop();
    rows.push({ name: "history/COPY key-buckets written", value: (N * KEYS) / sec, unit: "key-buckets/s", note: `${N} buckets × ${KEYS} keys, each one transaction (DELETE + COPY + rollups of the 5-minute periods closed), keys cached` });

    // Query data at 20 000 keys per bucket in the periods the tiles of the two ranges read.
    const ins = async (p: number, from: number, to: number) => {
      const span = partitionSpan(p);
      const cl = await pool.connect();
      try {
        for (let s = Math.floor(from / span) * span; s < to; s += span) await ensurePartition(cl, flowsTable(p), span, s);
        await cl.query(
          `INSERT INTO ${flowsTable(p)} SELECT b, k, 1, 2, 0, ${p / W - 1}, (b + k) % 1000, 5, 100, 200, 1, 0, k % 3
           FROM generate_series(${from}::bigint, ${to - p}::bigint, ${p}) b, generate_series(1, ${KEYS}) k ON CONFLICT DO NOTHING`,
        );
      } finally {
        cl.release();
      }
    };
    const gen0 = performance.now();
    const day = 86_400;
    const r24 = NOW - day;
    const r7 = NOW - 7 * day;
    // 24 h at 15 s: raw edges, 5-minute edges, whole hours.
    await ins(W, Math.floor(r24 / W) * W, Math.ceil(r24 / 300) * 300 + 300);
    await ins(W, Math.floor(NOW / 300) * 300 - 600, Math.floor(NOW / W) * W);
    await ins(300, Math.floor(r24 / 300) * 300, Math.ceil(r24 / 3600) * 3600 + 3600);
    await ins(300, Math.floor(NOW / 3600) * 3600 - 3600, Math.floor(NOW / 300) * 300);
    // 7 days at 5 min: 5-minute edges, hourly edges and the last day, whole days.
    await ins(300, Math.floor(r7 / 300) * 300, Math.ceil(r7 / 3600) * 3600 + 3600);
    await ins(3600, Math.floor(r7 / 3600) * 3600, Math.ceil(r7 / day) * day + day);
    await ins(3600, Math.floor(NOW / day) * day - day, Math.floor(NOW / 3600) * 3600);
    await ins(3600, Math.ceil(r24 / 3600) * 3600 - 3600, Math.floor(NOW / 3600) * 3600);
    await ins(86_400, Math.floor(r7 / day) * day, Math.floor(NOW / day) * day);
    await pool.query("INSERT INTO tributary_state VALUES ('latest', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [Math.floor(NOW / W) * W - 2 * W]);
    await pool.query("VACUUM ANALYZE");
    rows.push({ name: "history/query data generated", value: (performance.now() - gen0) / 1000, unit: "s", note: "SQL generate_series into the periods the ranges read" });

    const reader = createHistoryReader(
      pool,
      { windowSec: W, levels, resolutions: [{ sec: W, retentionSec: day }, { sec: 300, retentionSec: 7 * day }, { sec: 3600, retentionSec: 90 * day }] },
      metrics,
      () => NOW,
    );
    await reader.refreshKeys();
    const filter = compileFilter(MATCH_ALL);
    const timeIt = async (name: string, target: string, f: () => Promise<unknown>, n = 11) => {
      await f(); // warm-up
      const ts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await f();
        ts.push(performance.now() - t);
      }
      rows.push({ name: `${name} p50`, value: percentile(ts, 50), unit: "ms" });
      rows.push({ name: `${name} p99`, value: percentile(ts, 99), unit: "ms", target, note: `${n} runs (p99 = the slowest)` });
    };
    const page = { page: 0, pageSize: 100 };
    await timeIt("history/List last 24 h (15 s resolution), page 100", "p99 ≤ 1000 ms", () =>
      reader.list({ range: { gteSec: r24, ltSec: NOW }, filter, sort: "time", page, intervalSec: 0 }),
    );
    await timeIt("history/List last 7 days (5 min resolution), page 100", "p99 ≤ 3000 ms", () =>
      reader.list({ range: { gteSec: r7, ltSec: NOW }, filter, sort: "time", page, intervalSec: 0 }),
    );
    await timeIt("history/List last 7 days sorted by source name", "", () =>
      reader.list({ range: { gteSec: r7, ltSec: NOW }, filter, sort: "sourceName", page, intervalSec: 0 }),
    );
    await timeIt("history/FilterHints last 7 days (source names)", "p99 ≤ 1000 ms", () =>
      reader.filterHints({ range: { gteSec: r7, ltSec: NOW }, type: 2, filter, page }),
    );

    // Bytes on disk per key-bucket (heap + indexes + TOAST) per resolution.
    for (const p of levels) {
      const r = await pool.query<{ bytes: string; n: string }>(
        `SELECT (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i WHERE i.inhparent = '${flowsTable(p)}'::regclass) AS bytes, (SELECT count(*) FROM ${flowsTable(p)}) AS n`,
      );
      const bytes = Number(r.rows[0]!.bytes);
      const n = Number(r.rows[0]!.n);
      if (n > 0) rows.push({ name: `history/bytes on disk per key-bucket, ${p} s table`, value: bytes / n, unit: "B", note: `${n.toLocaleString("en-US")} rows, heap + primary key` });
    }
    await pool.end();
  } finally {
    await db.destroy();
  }
  return rows;
}
