import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import copyStreams from "pg-copy-streams";
import { COUNTERS, type FlowKeyModel } from "../model/flow.js";
import type { Logger } from "../observability/logger.js";
import { STAT_COUNTERS } from "../storage/policy-stats.js";
import { keySig, lineKey, type ClosedBucket, type StatLine } from "./bucket-data.js";
import type { HistoryMetrics } from "./metrics.js";
import { CLAIMS_SPAN, CLAIMS_TABLE, dropPartitionsBefore, ensurePartition, flowsTable, partitionSpan, statsTable } from "./schema.js";

/** Settings of the writer (docs/DESIGN.md §10). */
export interface WriterConfig {
  url: string;
  windowSec: number;
  /** Resolutions in seconds, finest (W) first: W, 300, 3600, 86400 (duplicates removed). */
  levels: readonly number[];
  /** Retention per level (seconds), same order as `levels`. */
  retentionSec: readonly number[];
  queueBuckets: number;
}

export interface WriterDeps {
  log: Logger;
  metrics: HistoryMetrics;
  nowSec: () => number;
}

/** The single-writer side of the history: a bounded queue of closed buckets written in order. */
export interface HistoryWriter {
  /** Queues a closed bucket (a newer copy of a queued bucket replaces it). */
  enqueue(bucket: ClosedBucket): void;
  /** Whether this instance currently holds the writer lock. */
  readonly isWriter: boolean;
  /** Buckets waiting. */
  readonly depth: number;
  /** Resolves when the queue is empty (or after `timeoutMs`); for shutdown and tests. */
  drain(timeoutMs: number): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
}

/** Advisory lock key held (session level) by the one writing instance. */
export const WRITER_LOCK = 0x7472_6962_7772; // "tribwr"

const RETRY_MS = [250, 500, 1000, 2000, 5000];

/** Escapes a value for COPY's text format (backslash, tab, newline, carriage return). */
const copyText = (v: string) => v.replace(/[\\\t\n\r]/g, (ch) => (ch === "\\" ? "\\\\" : ch === "\t" ? "\\t" : ch === "\n" ? "\\n" : "\\r"));

/**
 * Creates the writer. It holds one connection with a session advisory lock: exactly one
 * Tributary writes; the others try again every few seconds and take over when the lock frees
 * (its holder exits or its connection drops). Each bucket is written in one transaction: its
 * raw rows are deleted and COPYed again, and the rollups containing it are recomputed from the
 * finer table (idempotent: a retry, a late rewrite or a takeover never counts anything twice).
 */
export function createHistoryWriter(config: WriterConfig, deps: WriterDeps): HistoryWriter {
  const { log, metrics } = deps;
  const W = config.windowSec;
  const levels = config.levels;
  const queue: ClosedBucket[] = [];
  // In-memory key id → database key id, label arrays → label ids, line descriptors → line ids.
  const keyIds = new Map<number, number>();
  const labelIds = new Map<string, number>();
  const lineIds = new Map<string, number>();
  let client: pg.Client | undefined;
  /** "unknown" until the lock was tried: buckets are queued; "standby": another instance writes. */
  let role: "unknown" | "writer" | "standby" = "unknown";
  let running = false;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let lastRetention = 0;
  const partitions = new Set<string>();
  const drainWaiters: (() => void)[] = [];

  const setDepth = () => metrics.queueDepth.set(queue.length);

  const disconnect = async () => {
    const c = client;
    client = undefined;
    role = role === "writer" ? "unknown" : role;
    metrics.writer.set(0);
    partitions.clear();
    if (c) await c.end().catch(() => undefined);
  };

  /** Connects and tries the lock; returns whether this instance is the writer. */
  const acquire = async (): Promise<boolean> => {
    if (client && role === "writer") return true;
    if (!client) {
      const c = new pg.Client({ connectionString: config.url, application_name: "tributary-history-writer" });
      c.on("error", (err) => {
        log.warn({ err: err.message }, "history writer connection lost");
        if (client === c) void disconnect();
      });
      await c.connect();
      client = c;
    }
    const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [WRITER_LOCK]);
    const ok = r.rows[0]!.ok;
    if (ok && role !== "writer") log.info("history: this instance is the writer");
    if (!ok && role !== "standby") log.info("history: another instance holds the writer lock; standing by");
    role = ok ? "writer" : "standby";
    metrics.writer.set(ok ? 1 : 0);
    if (!ok) {
      // Standby: nothing of ours is written; what we queued while unsure is the writer's job.
      queue.length = 0;
      setDepth();
    }
    return ok;
  };

  const resolveKeys = async (c: pg.Client, keys: FlowKeyModel[], memIds: number[]) => {
    const missing: { i: number; sig: Buffer }[] = [];
    const seen = new Set<number>();
    for (let i = 0; i < memIds.length; i++) {
      if (!keyIds.has(memIds[i]!) && !seen.has(memIds[i]!)) {
        seen.add(memIds[i]!);
        missing.push({ i, sig: keySig(keys[i]!) });
      }
    }
    if (missing.length === 0) return;
    missing.sort((a, b) => memIds[a.i]! - memIds[b.i]!);
    const rows = missing.map(({ i, sig }) => {
      const k = keys[i]!;
      return {
        sig: sig.toString("hex"),
        source_name: k.sourceName,
        source_namespace: k.sourceNamespace,
        source_type: k.sourceType,
        dest_name: k.destName,
        dest_namespace: k.destNamespace,
        dest_type: k.destType,
        dest_port: k.destPort,
        dest_service_name: k.destServiceName,
        dest_service_namespace: k.destServiceNamespace,
        dest_service_port_name: k.destServicePortName,
        dest_service_port: k.destServicePort,
        proto: k.proto,
        reporter: k.reporter,
        action: k.action,
        enforced: k.enforced,
        pending: k.pending,
      };
    });
    // Keys are inserted in in-memory id order, so database ids grow like in-memory ids.
    const r = await c.query<{ id: number; sig: Buffer }>(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(sig text, source_name text, source_namespace text, source_type smallint,
          dest_name text, dest_namespace text, dest_type smallint, dest_port integer, dest_service_name text, dest_service_namespace text,
          dest_service_port_name text, dest_service_port integer, proto text, reporter smallint, action smallint, enforced jsonb, pending jsonb)),
        ins AS (INSERT INTO tributary_keys (sig, source_name, source_namespace, source_type, dest_name, dest_namespace, dest_type, dest_port,
          dest_service_name, dest_service_namespace, dest_service_port_name, dest_service_port, proto, reporter, action, enforced, pending)
          SELECT decode(sig, 'hex'), source_name, source_namespace, source_type, dest_name, dest_namespace, dest_type, dest_port,
          dest_service_name, dest_service_namespace, dest_service_port_name, dest_service_port, proto, reporter, action, enforced, pending FROM x
          ON CONFLICT (sig) DO NOTHING RETURNING id, sig)
       SELECT id, sig FROM ins UNION ALL SELECT k.id, k.sig FROM tributary_keys k WHERE k.sig IN (SELECT decode(sig, 'hex') FROM x)`,
      [JSON.stringify(rows)],
    );
    const bySig = new Map<string, number>();
    for (const row of r.rows) bySig.set(row.sig.toString("hex"), row.id);
    for (const { i, sig } of missing) {
      const id = bySig.get(sig.toString("hex"));
      if (id === undefined) throw new Error("history: key id not found after insert");
      keyIds.set(memIds[i]!, id);
    }
  };

  const resolveLabels = async (c: pg.Client, sets: (readonly string[])[]) => {
    const missing = new Map<string, readonly string[]>();
    for (const s of sets) {
      const k = JSON.stringify(s);
      if (!labelIds.has(k)) missing.set(k, s);
    }
    if (missing.size === 0) return;
    const r = await c.query<{ id: number; labels: string[] }>(
      `WITH x AS (SELECT ARRAY(SELECT jsonb_array_elements_text(e))::text[] AS labels FROM jsonb_array_elements($1::jsonb) e),
        ins AS (INSERT INTO tributary_labels (labels) SELECT labels FROM x ON CONFLICT (digest) DO NOTHING RETURNING id, labels)
       SELECT id, labels FROM ins UNION ALL SELECT l.id, l.labels FROM tributary_labels l WHERE l.digest IN (SELECT tributary_label_digest(labels) FROM x)`,
      [JSON.stringify([...missing.values()])],
    );
    for (const row of r.rows) labelIds.set(JSON.stringify(row.labels), row.id);
    for (const k of missing.keys()) if (!labelIds.has(k)) throw new Error("history: label set id not found after insert");
  };

  const resolveLines = async (c: pg.Client, lines: StatLine[]) => {
    const missing = lines.filter((l) => !lineIds.has(lineKey(l)));
    if (missing.length === 0) return;
    const r = await c.query<StatLine & { id: number }>(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(kind smallint, namespace text, name text, tier text, action smallint, "ruleIndex" integer, direction smallint)),
        ins AS (INSERT INTO tributary_stat_lines (kind, namespace, name, tier, action, rule_index, direction)
          SELECT kind, namespace, name, tier, action, "ruleIndex", direction FROM x ON CONFLICT DO NOTHING
          RETURNING id, kind, namespace, name, tier, action, rule_index AS "ruleIndex", direction)
       SELECT * FROM ins UNION ALL SELECT l.id, l.kind, l.namespace, l.name, l.tier, l.action, l.rule_index, l.direction
         FROM tributary_stat_lines l JOIN x USING (kind, namespace, name, tier, action, direction) WHERE l.rule_index = x."ruleIndex"`,
      [JSON.stringify(missing)],
    );
    for (const row of r.rows) lineIds.set(lineKey(row), row.id);
  };

  const copyInto = async (c: pg.Client, table: string, text: string) => {
    if (text.length === 0) return;
    await pipeline(Readable.from([text]), c.query(copyStreams.from(`COPY ${table} FROM STDIN`)));
  };

  const partition = async (c: pg.Client, table: string, p: number, bucket: number) => {
    const span = partitionSpan(p);
    const name = `${table}_p${Math.floor(bucket / span) * span}`;
    if (partitions.has(name)) return;
    await ensurePartition(c, table, span, bucket);
    partitions.add(name);
  };

  /** Recomputes period `p` of level `to` from the finer level `from` (delete, then insert). */
  const rollup = async (c: pg.Client, from: number, to: number, p: number): Promise<number> => {
    await partition(c, flowsTable(to), to, p);
    await partition(c, statsTable(to), to, p);
    await c.query(`DELETE FROM ${flowsTable(to)} WHERE bucket = $1`, [p]);
    const r = await c.query(
      `INSERT INTO ${flowsTable(to)} SELECT $1::bigint, key_id,
         CASE WHEN min(src) = max(src) THEN min(src) ELSE tributary_label_meet(array_agg(DISTINCT src)) END,
         CASE WHEN min(dst) = max(dst) THEN min(dst) ELSE tributary_label_meet(array_agg(DISTINCT dst)) END,
         min((bucket - $1::bigint) / ${W} + first_off), max((bucket - $1::bigint) / ${W} + last_off),
         sum(packets_in), sum(packets_out), sum(bytes_in), sum(bytes_out), sum(conns_started), sum(conns_completed), sum(conns_live)
       FROM ${flowsTable(from)} WHERE bucket >= $1::bigint AND bucket < $1::bigint + ${to} GROUP BY key_id`,
      [p],
    );
    await c.query(`DELETE FROM ${statsTable(to)} WHERE bucket = $1`, [p]);
    await c.query(
      `INSERT INTO ${statsTable(to)} SELECT $1::bigint, line_id, sum(packets_in), sum(packets_out), sum(bytes_in), sum(bytes_out), sum(live_in), sum(live_out)
       FROM ${statsTable(from)} WHERE bucket >= $1::bigint AND bucket < $1::bigint + ${to} GROUP BY line_id`,
      [p],
    );
    metrics.rowsWritten.inc({ resolution: String(to) }, r.rowCount ?? 0);
    return r.rowCount ?? 0;
  };

  const writeBucket = async (c: pg.Client, b: ClosedBucket) => {
    const t0 = performance.now();
    await resolveKeys(c, b.keys, b.memIds);
    await resolveLabels(c, [...b.src, ...b.dst]);
    await resolveLines(c, b.lines);
    const raw = levels[0]!;
    const parts: string[] = [];
    const n = b.memIds.length;
    const cs = b.counters;
    for (let i = 0; i < n; i++) {
      const o = i * COUNTERS;
      parts.push(
        `${b.start}\t${keyIds.get(b.memIds[i]!)}\t${labelIds.get(JSON.stringify(b.src[i]))}\t${labelIds.get(JSON.stringify(b.dst[i]))}\t0\t0\t` +
          `${cs[o]}\t${cs[o + 1]}\t${cs[o + 2]}\t${cs[o + 3]}\t${cs[o + 4]}\t${cs[o + 5]}\t${cs[o + 6]}\n`,
      );
    }
    const stat: string[] = [];
    const lc = b.lineCounters;
    for (let i = 0; i < b.lines.length; i++) {
      const o = i * STAT_COUNTERS;
      stat.push(`${b.start}\t${lineIds.get(lineKey(b.lines[i]!))}\t${lc[o]}\t${lc[o + 1]}\t${lc[o + 2]}\t${lc[o + 3]}\t${lc[o + 4]}\t${lc[o + 5]}\n`);
    }
    const claims: string[] = [];
    for (const cl of b.claims) claims.push(`${b.start}\t${keyIds.get(b.memIds[cl.row]!)}\t${copyText(cl.node)}\t${cl.start}\t${cl.end}\n`);
    await c.query("BEGIN");
    try {
      await partition(c, flowsTable(raw), raw, b.start);
      if (!partitions.has(`${CLAIMS_TABLE}_p${Math.floor(b.start / CLAIMS_SPAN) * CLAIMS_SPAN}`)) {
        await ensurePartition(c, CLAIMS_TABLE, CLAIMS_SPAN, b.start);
        partitions.add(`${CLAIMS_TABLE}_p${Math.floor(b.start / CLAIMS_SPAN) * CLAIMS_SPAN}`);
      }
      await c.query(`DELETE FROM ${CLAIMS_TABLE} WHERE bucket = $1`, [b.start]);
      await copyInto(c, CLAIMS_TABLE, claims.join(""));
      await partition(c, statsTable(raw), raw, b.start);
      const st = await c.query<{ value: string }>("SELECT value FROM tributary_state WHERE name = 'latest' FOR UPDATE");
      const latest = st.rows.length > 0 ? Number(st.rows[0]!.value) : Number.NaN;
      await c.query(`DELETE FROM ${flowsTable(raw)} WHERE bucket = $1`, [b.start]);
      await copyInto(c, flowsTable(raw), parts.join(""));
      await c.query(`DELETE FROM ${statsTable(raw)} WHERE bucket = $1`, [b.start]);
      await copyInto(c, statsTable(raw), stat.join(""));
      metrics.rowsWritten.inc({ resolution: String(raw) }, n);
      // Rollups: the period of this bucket when it is the period's last bucket or a late rewrite
      // of a finished period; the period of the previous latest bucket when this one crosses it
      // (its last bucket may never come: dropped, or no traffic).
      for (let li = 1; li < levels.length; li++) {
        const P = levels[li]!;
        const p = Math.floor(b.start / P) * P;
        const todo = new Set<number>();
        if (b.start + W >= p + P) todo.add(p);
        if (!Number.isNaN(latest)) {
          if (b.start < latest && p + P <= latest + W) todo.add(p);
          const pl = Math.floor(latest / P) * P;
          if (b.start > latest && pl < p && latest + W < pl + P) todo.add(pl);
        }
        for (const q of [...todo].sort((x, y) => x - y)) await rollup(c, levels[li - 1]!, P, q);
      }
      const next = Number.isNaN(latest) ? b.start : Math.max(latest, b.start);
      await c.query("INSERT INTO tributary_state VALUES ('latest', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [next]);
      await c.query("COMMIT");
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
    metrics.writeSeconds.observe((performance.now() - t0) / 1000);
  };

  const retention = async (c: pg.Client) => {
    const now = deps.nowSec();
    if (now - lastRetention < 300) return;
    lastRetention = now;
    // Claims matter only within the replay horizon: kept two hours.
    if ((await dropPartitionsBefore(c, CLAIMS_TABLE, CLAIMS_SPAN, now - 7200)) > 0) {
      for (const name of [...partitions]) if (name.startsWith(`${CLAIMS_TABLE}_p`)) partitions.delete(name);
    }
    for (let i = 0; i < levels.length; i++) {
      const P = levels[i]!;
      const before = now - config.retentionSec[i]!;
      for (const t of [flowsTable(P), statsTable(P)]) {
        const d = await dropPartitionsBefore(c, t, partitionSpan(P), before);
        if (d > 0) {
          if (t === flowsTable(P)) metrics.partitionsDropped.inc({ resolution: String(P) }, d);
          for (const name of [...partitions]) if (name.startsWith(`${t}_p`)) partitions.delete(name);
          log.info({ table: t, dropped: d, before }, "history retention: partitions dropped");
        }
      }
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const run = async () => {
    let attempt = 0;
    while (running) {
      try {
        if (role !== "writer" || !client) {
          if (!(await acquire())) {
            await sleep(5000);
            continue;
          }
        }
        attempt = 0;
        await retention(client!);
        const head = queue[0];
        if (!head) {
          for (const w of drainWaiters.splice(0)) w();
          await sleep(5000);
          continue;
        }
        await writeBucket(client!, head);
        if (queue[0] === head) queue.shift();
        setDepth();
      } catch (err) {
        metrics.writeErrors.inc();
        const delay = RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]!;
        log.warn({ err: (err as Error).message, queued: queue.length, retryMs: delay }, "history write failed; retrying");
        if (client && (err as { code?: string }).code === undefined) await disconnect();
        await sleep(delay);
      }
    }
  };

  return {
    get isWriter() {
      return role === "writer";
    },
    get depth() {
      return queue.length;
    },
    enqueue(bucket) {
      if (role === "standby") return;
      const at = queue.findIndex((q) => q.start === bucket.start);
      // Replace a waiting copy, except the head (it may be being written: write it again after).
      if (at > 0) queue[at] = bucket;
      else {
        queue.push(bucket);
        if (queue.length > config.queueBuckets) {
          const dropped = queue.shift()!;
          metrics.droppedBuckets.inc();
          log.error({ bucket: dropped.start, queueBuckets: config.queueBuckets }, "history queue full (HISTORY_QUEUE_BUCKETS): oldest waiting bucket dropped, not written to PostgreSQL");
        }
      }
      setDepth();
      wake?.();
    },
    async drain(timeoutMs) {
      if (queue.length === 0) return true;
      return await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), timeoutMs);
        drainWaiters.push(() => {
          clearTimeout(t);
          resolve(true);
        });
        wake?.();
      });
    },
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      await disconnect();
    },
  };
}
