import pg from "pg";
import type { Registry } from "prom-client";
import type { Aggregator } from "../aggregator/aggregator.js";
import type { Logger } from "../observability/logger.js";
import type { HistorySource } from "../query/history-source.js";
import { extractBucket } from "./bucket-data.js";
import { historyMetrics } from "./metrics.js";
import { createHistoryReader, type HistoryReader } from "./reader.js";
import { migrate } from "./schema.js";
import { createHistoryWriter, type HistoryWriter } from "./writer.js";

/** What `serve` configures of the history (src/config/serve-config.ts, issue 16). */
export interface HistoryConfig {
  historyPostgresUrl: string;
  historyQueueBuckets: number;
  historyRetentionRawSec: number;
  historyRetention5mSec: number;
  historyRetention1hSec: number;
  windowSec: number;
}

export interface HistoryDeps {
  aggregator: Aggregator;
  log: Logger;
  registry: Registry;
}

/** The history as the server sees it: a source for queries, started and stopped with the server. */
export interface History {
  readonly source: HistorySource;
  readonly reader: HistoryReader;
  readonly writer: HistoryWriter;
  /**
   * Migrates the schema, loads the last hour back into memory (closed buckets memory does not
   * hold, with their dedup claims), then starts writing closed buckets. Never throws for an
   * unreachable database: it logs, and the writer keeps retrying.
   */
  start(): Promise<void>;
  /** Writes what is queued (up to `timeoutMs`), then closes the connections. */
  stop(timeoutMs: number): Promise<void>;
}

/** Resolutions of the tables, finest first: W, 5 min, 1 h, 1 day (the last only speeds up ranges). */
export function historyLevels(windowSec: number): number[] {
  return [...new Set([windowSec, 300, 3600, 86_400])].sort((a, b) => a - b);
}

/**
 * Builds the PostgreSQL history (docs/DESIGN.md §10). Imported lazily by the server only when
 * HISTORY_POSTGRES_URL is set, so without it neither this module nor `pg` is loaded.
 */
export function createHistory(config: HistoryConfig, deps: HistoryDeps): History {
  const { aggregator, log } = deps;
  const W = config.windowSec;
  const metrics = historyMetrics(deps.registry);
  const levels = historyLevels(W);
  const retentionOf = (p: number) =>
    p === W ? config.historyRetentionRawSec : p <= 300 ? config.historyRetention5mSec : config.historyRetention1hSec;
  const nowSec = () => aggregator.nowSec();
  const pool = new pg.Pool({ connectionString: config.historyPostgresUrl, max: 4, application_name: "tributary-history-reader", connectionTimeoutMillis: 5000 });
  pool.on("error", (err) => log.warn({ err: err.message }, "history pool connection error"));
  const reader = createHistoryReader(
    pool,
    {
      windowSec: W,
      levels,
      resolutions: [...new Set([W, 300, 3600])].sort((a, b) => a - b).map((sec) => ({ sec, retentionSec: retentionOf(sec) })),
    },
    metrics,
    nowSec,
  );
  const writer = createHistoryWriter(
    { url: config.historyPostgresUrl, windowSec: W, levels, retentionSec: levels.map(retentionOf), queueBuckets: config.historyQueueBuckets },
    { log, metrics, nowSec },
  );
  const store = aggregator.store;
  // Buckets up to `handed` were given to the writer; a flow added to one later (a late report, a
  // replay after a reconnect) makes it dirty, and it is written again whole at the next rollover.
  let handed = Number.POSITIVE_INFINITY;
  let restoring = false;
  const dirty = new Set<number>();
  store.observe({
    onAdd: (_slot, _key, b) => {
      if (!restoring && b <= handed) dirty.add(b);
    },
    onRecycle: (b) => {
      dirty.delete(b);
    },
  });
  let unsubscribe: (() => void) | undefined;
  let stopped = false;

  const latestWritten = async (): Promise<number> => {
    const r = await pool.query<{ value: string }>("SELECT value FROM tributary_state WHERE name = 'latest'");
    return r.rows.length === 0 ? Number.NEGATIVE_INFINITY : Number(r.rows[0]!.value);
  };

  const restore = async () => {
    const ring = store.ring;
    // Every closed bucket of the ring that memory does not hold (a snapshot may have restored
    // some, with their claims) comes back from the finest table, with its dedup claims: the
    // agents' replays after the restart are then deduplicated like before it.
    const from = ring.oldestStart;
    const until = ring.currentStart;
    const rows = await reader.rawRows(from, until);
    const held = new Set<number>();
    for (let b = from; b < until; b += W) if (ring.rowsOf(b).length > 0) held.add(b);
    let windows = 0;
    let claims = 0;
    restoring = true;
    try {
      for (const r of rows) {
        if (!ring.accepts(r.bucket) || held.has(r.bucket)) continue;
        loaded.add(r.bucket);
        const slot = store.keySlotFor(r.key);
        if (slot === undefined) continue;
        store.addToKey(slot, r.bucket, r.bucket, store.labels.intern(r.src), store.labels.intern(r.dst), r.counters, -1);
        windows++;
      }
      const horizon = store.claimHorizonStart;
      for (const c of await reader.claims(Math.max(from, horizon), until)) {
        if (!loaded.has(c.bucket)) continue;
        const slot = store.keySlotFor(c.key);
        if (slot !== undefined && store.restoreClaim(slot, aggregator.nodeIdOf(c.node), c.start, c.end)) claims++;
      }
    } finally {
      restoring = false;
    }
    return { windows, claims };
  };
  const loaded = new Set<number>();

  return {
    source: reader,
    reader,
    writer,
    async start() {
      const ring = store.ring;
      handed = ring.currentStart - 2 * W;
      try {
        const c = await pool.connect();
        try {
          await migrate(c, W, levels);
        } finally {
          c.release();
        }
        const summary = await restore();
        log.info(summary, "history: last hour loaded from PostgreSQL");
        // Closed buckets memory holds that PostgreSQL does not (a snapshot restored, or a
        // previous run stopped before writing them): written at the next rollover.
        const latest = await latestWritten();
        for (let b = Math.max(ring.oldestStart, latest + W); b <= handed; b += W) if (ring.rowsOf(b).length > 0 && !loaded.has(b)) dirty.add(b);
      } catch (err) {
        log.error({ err: (err as Error).message }, "history: PostgreSQL unreachable at start; the last hour is not loaded, writes are queued and retried");
        void (async () => {
          // Keep trying to create the schema so the writer can write once the database is back.
          for (let i = 0; i < 1000 && !stopped; i++) {
            await new Promise((r) => setTimeout(r, 2000).unref());
            try {
              const c = await pool.connect();
              try {
                await migrate(c, W, levels);
              } finally {
                c.release();
              }
              return;
            } catch {
              /* still down */
            }
          }
        })();
      }
      unsubscribe = aggregator.onReady((b) => {
        for (const d of [...dirty].sort((x, y) => x - y)) {
          if (d < b && ring.accepts(d)) writer.enqueue(extractBucket(store, aggregator.policyStats, d, aggregator.nodeNames()));
        }
        dirty.clear();
        writer.enqueue(extractBucket(store, aggregator.policyStats, b, aggregator.nodeNames()));
        handed = b;
      });
      writer.start();
    },
    async stop(timeoutMs) {
      stopped = true;
      unsubscribe?.();
      if (writer.isWriter) await writer.drain(timeoutMs);
      await writer.stop();
      await pool.end().catch(() => undefined);
    },
  };
}
