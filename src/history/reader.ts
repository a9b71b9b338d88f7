import type pg from "pg";
import { COUNTERS, type FlowKeyModel, type FlowRow, type PolicyHitModel } from "../model/flow.js";
import { compareUtf8 } from "../model/compare.js";
import { QueryError } from "../query/errors.js";
import { hintsOfKeys, type FilterHintsAnswer, type FilterHintsQuery } from "../query/filter-hints.js";
import type { KeyPredicate } from "../query/filter.js";
import { HistoryUnavailableError, type HistoryAnswer, type HistorySource } from "../query/history-source.js";
import type { ListAnswer, ListQuery } from "../query/list.js";
import { pageBounds, pageMeta } from "../query/paging.js";
import { answerFromBuckets, checkStatisticsQuery, type StatisticsAnswer, type StatisticsQuery } from "../query/statistics.js";
import { intersectSorted } from "../storage/label-sets.js";
import { BucketStats, STAT_COUNTERS, type PolicyStatsView } from "../storage/policy-stats.js";
import type { HistoryMetrics } from "./metrics.js";
import { flowsTable, statsTable } from "./schema.js";

/** Settings of the reader. */
export interface ReaderConfig {
  windowSec: number;
  /** Table resolutions, finest first (W, 300, 3600, 86400). */
  levels: readonly number[];
  /** Query resolutions with their retention (seconds), finest first: W, 5 min, 1 h. */
  resolutions: readonly { sec: number; retentionSec: number }[];
}

/** A stretch `[from, to)` answered from the table of resolution `p`. */
export interface Tile {
  readonly p: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Tiles `[from, to)` (multiples of the finest level) with the coarsest tables that cover whole
 * periods of it: whole days from the 1-day table, then whole hours, whole 5 minutes, and the
 * edges from the finest table. Sums and label intersections compose, so the answer is the same as
 * from the finest table. A level is used only up to `rolledUpTo` (periods wholly before the last
 * bucket written are rolled up) and, for a grouped answer, only when its period divides the group
 * width `groupSec` (0 = one group), so no tile straddles two groups.
 */
export function planTiles(from: number, to: number, levels: readonly number[], groupSec: number, rolledUpTo: number): Tile[] {
  const usable = levels.filter((p, i) => i === 0 || groupSec === 0 || groupSec % p === 0).sort((a, b) => b - a);
  const out: Tile[] = [];
  const go = (a: number, b: number, idx: number) => {
    if (a >= b) return;
    const p = usable[idx]!;
    if (idx === usable.length - 1) {
      out.push({ p, from: a, to: b });
      return;
    }
    const A = Math.ceil(a / p) * p;
    const B = Math.min(Math.floor(b / p) * p, Math.floor(rolledUpTo / p) * p);
    if (A >= B) return go(a, b, idx + 1);
    go(a, A, idx + 1);
    out.push({ p, from: A, to: B });
    go(B, b, idx + 1);
  };
  go(from, to, 0);
  return out;
}

const FLOW_COLS = "key_id, bucket, first_off, last_off, src, dst, packets_in, packets_out, bytes_in, bytes_out, conns_started, conns_completed, conns_live";
const SUMS =
  "sum(packets_in)::float8 AS c0, sum(packets_out)::float8 AS c1, sum(bytes_in)::float8 AS c2, sum(bytes_out)::float8 AS c3, sum(conns_started)::float8 AS c4, sum(conns_completed)::float8 AS c5, sum(conns_live)::float8 AS c6";

const SORT_COLUMN: Record<string, string> = {
  sourceName: "source_name",
  sourceNamespace: "source_namespace",
  destName: "dest_name",
  destNamespace: "dest_namespace",
};

interface KeyRow {
  id: number;
  source_name: string;
  source_namespace: string;
  source_type: number;
  dest_name: string;
  dest_namespace: string;
  dest_type: number;
  dest_port: number;
  dest_service_name: string;
  dest_service_namespace: string;
  dest_service_port_name: string;
  dest_service_port: number;
  proto: string;
  reporter: number;
  action: number;
  enforced: PolicyHitModel[];
  pending: PolicyHitModel[];
}

/** A statistics view with no lines (an empty range). */
const emptyView: PolicyStatsView = {
  bucket: () => undefined,
  linePolicy: () => 0,
  lineAction: () => 0,
  lineRuleIndex: () => 0,
  lineDirection: () => 0,
  policyKind: () => 0,
  policyNamespace: () => "",
  policyName: () => "",
  policyTier: () => "",
  linesOfSlot: () => undefined,
};

/** What the reader needs of the database beyond the query text. */
export interface HistoryReader extends HistorySource {
  /** The resolution a range starting at `gteSec` is answered at (finest whose retention covers it). */
  resolutionFor(gteSec: number, nowSec: number): number;
  /** Raw rows of buckets in `[from, to)` with their keys and labels (restart: back into memory). */
  rawRows(from: number, to: number): Promise<{ bucket: number; key: FlowKeyModel; src: readonly string[]; dst: readonly string[]; counters: number[] }[]>;
  /** Dedup claims of buckets in `[from, to)` (restart). */
  claims(from: number, to: number): Promise<{ bucket: number; key: FlowKeyModel; node: string; start: number; end: number }[]>;
  /** Loads new keys into the cache (exposed for tests and benchmarks). */
  refreshKeys(): Promise<Map<number, FlowKeyModel>>;
}

/**
 * Answers List, FilterHints and Statistics from PostgreSQL (docs/DESIGN.md §10): the aggregation,
 * sort and page are done in SQL over the tiles of {@link planTiles}; keys are filtered in memory
 * with the very predicate the in-memory path uses (a cache of `tributary_keys`, loaded
 * incrementally: keys are never changed once written) and passed to SQL as key ids.
 */
export function createHistoryReader(pool: pg.Pool, config: ReaderConfig, metrics: HistoryMetrics, nowSec: () => number): HistoryReader {
  const W = config.windowSec;
  const keys = new Map<number, FlowKeyModel>();
  let maxKeyId = 0;
  const labels = new Map<number, readonly string[]>();
  const lines = new Map<number, { kind: number; namespace: string; name: string; tier: string; action: number; rule_index: number; direction: number }>();
  let maxLineId = 0;

  const q = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> => {
    try {
      return await pool.query<R>(text, values);
    } catch (e) {
      const err = e as Error & { code?: string };
      // SQL errors of ours (a bug) stay INTERNAL; connection and server-state failures are UNAVAILABLE.
      if (err.code === undefined || !/^[0-9A-Z]{5}$/.test(err.code) || /^(08|53|57|58)/.test(err.code)) throw new HistoryUnavailableError(`history database unavailable: ${err.message}`);
      throw e;
    }
  };

  const refreshKeys = async () => {
    const r = await q<KeyRow>("SELECT * FROM tributary_keys WHERE id > $1 ORDER BY id", [maxKeyId]);
    for (const k of r.rows) {
      keys.set(k.id, {
        sourceName: k.source_name,
        sourceNamespace: k.source_namespace,
        sourceType: k.source_type,
        destName: k.dest_name,
        destNamespace: k.dest_namespace,
        destType: k.dest_type,
        destPort: k.dest_port,
        destServiceName: k.dest_service_name,
        destServiceNamespace: k.dest_service_namespace,
        destServicePortName: k.dest_service_port_name,
        destServicePort: k.dest_service_port,
        proto: k.proto,
        reporter: k.reporter,
        action: k.action,
        enforced: k.enforced,
        pending: k.pending,
      });
      maxKeyId = Math.max(maxKeyId, k.id);
    }
    return keys;
  };

  const loadLabels = async (ids: Iterable<number>) => {
    const missing = [...new Set(ids)].filter((id) => !labels.has(id));
    if (missing.length === 0) return;
    const r = await q<{ id: number; labels: string[] }>("SELECT id, labels FROM tributary_labels WHERE id = ANY($1::int[])", [missing]);
    for (const row of r.rows) labels.set(row.id, row.labels.slice().sort(compareUtf8));
  };

  /** Key ids passing the predicates, or null when every key passes (no key condition in SQL). */
  const selectKeys = (filter: KeyPredicate, scope?: KeyPredicate): number[] | null => {
    const ids: number[] = [];
    for (const [id, k] of keys) if (filter(k) && (scope === undefined || scope(k))) ids.push(id);
    return ids.length === keys.size ? null : ids;
  };

  /** The end of the rolled-up periods: the end of the newest bucket written. */
  const rolledUpTo = async (): Promise<number> => {
    const r = await q<{ value: string }>("SELECT value FROM tributary_state WHERE name = 'latest'");
    return r.rows.length === 0 ? 0 : Number(r.rows[0]!.value) + W;
  };

  const arms = (tiles: Tile[], cols: string, table: (p: number) => string, cond: string) =>
    tiles.map((t) => `SELECT ${cols} FROM ${table(t.p)} WHERE bucket >= ${t.from} AND bucket < ${t.to}${cond}`).join(" UNION ALL ");

  const resolutionFor = (gteSec: number, now: number): number => {
    for (const r of config.resolutions) if (gteSec >= now - r.retentionSec) return r.sec;
    return config.resolutions[config.resolutions.length - 1]!.sec;
  };

  const timed = async <T>(method: string, R: number, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      metrics.querySeconds.observe({ method, resolution: String(R) }, (performance.now() - t0) / 1000);
    }
  };

  return {
    resolutionFor,
    refreshKeys,

    async list(query: ListQuery & { scope?: KeyPredicate }): Promise<HistoryAnswer<ListAnswer>> {
      const R = resolutionFor(query.range.gteSec, nowSec());
      const I = query.intervalSec;
      if (I % R !== 0) {
        throw new QueryError("aggregation_interval", `must be 0 or a multiple of the resolution used for this range (${R}s), got ${I}`);
      }
      const answer = await timed("list", R, async () => {
        const first = Math.ceil(query.range.gteSec / R) * R;
        const last = Math.floor(query.range.ltSec / R) * R - R;
        if (first > last) return { rows: [], meta: pageMeta(0, query.page) };
        await refreshKeys();
        const ids = selectKeys(query.filter, query.scope);
        if (ids !== null && ids.length === 0) return { rows: [], meta: pageMeta(0, query.page) };
        const tiles = planTiles(first, last + R, config.levels, I, await rolledUpTo());
        const cond = ids === null ? "" : " AND key_id = ANY($1::int[])";
        const params: unknown[] = ids === null ? [] : [ids];
        const g = I === 0 ? "0::bigint" : `(bucket / ${I}) * ${I}`;
        const start = I === 0 ? `(fs / ${R}) * ${R}` : `greatest(g, ${first})`;
        const sort = query.sort;
        const order =
          sort === "time" ? `${start} DESC, a.key_id DESC` : `k.${SORT_COLUMN[sort]} COLLATE "C", a.key_id, ${start} DESC`;
        const { from, to } = pageBounds(Number.MAX_SAFE_INTEGER, query.page);
        const limit = query.page.pageSize === 0 ? "" : ` LIMIT ${to - from} OFFSET ${from}`;
        const agg = `WITH t AS (${arms(tiles, FLOW_COLS, flowsTable, cond)}),
          a AS (SELECT key_id, ${g} AS g, ${SUMS}, min(bucket + first_off * ${W}) AS fs, max(bucket + last_off * ${W}) AS ls FROM t GROUP BY 1, 2)`;
        const r = await q<{ key_id: number; g: string; fs: string; ls: string; total: string } & Record<string, number>>(
          `${agg} SELECT a.*, count(*) OVER () AS total FROM a${sort === "time" ? "" : " JOIN tributary_keys k ON k.id = a.key_id"} ORDER BY ${order}${limit}`,
          params,
        );
        let total = r.rows.length > 0 ? Number(r.rows[0]!.total) : 0;
        if (r.rows.length === 0 && from > 0) {
          const c = await q<{ n: string }>(`${agg} SELECT count(*) AS n FROM a`, params);
          total = Number(c.rows[0]!.n);
        }
        // Labels of the page's rows only: the distinct label sets per (key, group), intersected.
        const pageKeys = [...new Set(r.rows.map((x) => x.key_id))];
        const labelOf = new Map<string, { s: number[]; d: number[] }>();
        if (pageKeys.length > 0) {
          const lr = await q<{ key_id: number; g: string; s: number[]; d: number[] }>(
            `WITH t AS (${arms(tiles, "key_id, bucket, src, dst", flowsTable, " AND key_id = ANY($1::int[])")})
             SELECT key_id, ${g} AS g, array_agg(DISTINCT src) AS s, array_agg(DISTINCT dst) AS d FROM t GROUP BY 1, 2`,
            [pageKeys],
          );
          for (const x of lr.rows) labelOf.set(`${x.key_id}:${x.g}`, { s: x.s, d: x.d });
          await loadLabels(lr.rows.flatMap((x) => [...x.s, ...x.d]));
        }
        const meet = (ids: number[] | undefined): readonly string[] => {
          if (!ids || ids.length === 0) return [];
          let v = labels.get(ids[0]!)!;
          for (let i = 1; i < ids.length; i++) v = intersectSorted(v, labels.get(ids[i]!)!);
          return v;
        };
        const rows: FlowRow[] = r.rows.map((x) => {
          const gs = Number(x.g);
          const counters = new Array<number>(COUNTERS);
          for (let i = 0; i < COUNTERS; i++) counters[i] = x[`c${i}`]!;
          const lab = labelOf.get(`${x.key_id}:${x.g}`);
          let startSec: number;
          let endSec: number;
          if (I === 0) {
            startSec = Math.floor(Number(x.fs) / R) * R;
            endSec = Math.floor(Number(x.ls) / R) * R + R;
          } else {
            startSec = Math.max(gs, first);
            endSec = Math.min(last, gs + I - R) + R;
          }
          // Flow IPs (issue 13) are not kept in the history: empty, as for agents that do not send them.
          return { id: x.key_id, key: keys.get(x.key_id)!, startSec, endSec, sourceLabels: meet(lab?.s), destLabels: meet(lab?.d), sourceIps: [], destIps: [], counters };
        });
        return { rows, meta: pageMeta(total, query.page) };
      });
      return { answer, resolutionSec: R };
    },

    async filterHints(query: FilterHintsQuery): Promise<HistoryAnswer<FilterHintsAnswer>> {
      const R = resolutionFor(query.range.gteSec, nowSec());
      const answer = await timed("filter_hints", R, async () => {
        hintsOfKeys(query.type, [], query.page); // validates the type first
        const first = Math.ceil(query.range.gteSec / R) * R;
        const last = Math.floor(query.range.ltSec / R) * R - R;
        if (first > last) return hintsOfKeys(query.type, [], query.page);
        await refreshKeys();
        const ids = selectKeys(query.filter, query.scope);
        if (ids !== null && ids.length === 0) return hintsOfKeys(query.type, [], query.page);
        const tiles = planTiles(first, last + R, config.levels, 0, await rolledUpTo());
        const cond = ids === null ? "" : " AND key_id = ANY($1::int[])";
        const r = await q<{ key_id: number }>(`SELECT DISTINCT key_id FROM (${arms(tiles, "key_id", flowsTable, cond)}) t`, ids === null ? [] : [ids]);
        return hintsOfKeys(query.type, r.rows.map((x) => keys.get(x.key_id)!), query.page);
      });
      return { answer, resolutionSec: R };
    },

    async statistics(query: StatisticsQuery): Promise<HistoryAnswer<StatisticsAnswer>> {
      checkStatisticsQuery(query);
      if (query.scope) {
        throw new QueryError("start_time_gte", "statistics of a namespace-scoped token are answered from memory only (the last hour)");
      }
      const R = resolutionFor(query.range.gteSec, nowSec());
      const answer = await timed("statistics", R, async () => {
        const from = Math.floor(query.range.gteSec / R) * R;
        const to = Math.floor(query.range.ltSec / R) * R;
        if (from >= to) return answerFromBuckets(emptyView, from, R, [], query);
        const lr = await q<{ id: number; kind: number; namespace: string; name: string; tier: string; action: number; rule_index: number; direction: number }>(
          "SELECT * FROM tributary_stat_lines WHERE id > $1 ORDER BY id",
          [maxLineId],
        );
        for (const l of lr.rows) {
          lines.set(l.id, l);
          maxLineId = Math.max(maxLineId, l.id);
        }
        const group = query.timeSeries ? R : 0;
        const tiles = planTiles(from, to, config.levels.filter((p) => p <= R || !query.timeSeries), group, await rolledUpTo());
        const g = group === 0 ? "0::bigint" : `(bucket / ${group}) * ${group}`;
        const r = await q<{ line_id: number; g: string; s0: number; s1: number; s2: number; s3: number; s4: number; s5: number }>(
          `SELECT line_id, ${g} AS g, sum(packets_in)::float8 AS s0, sum(packets_out)::float8 AS s1, sum(bytes_in)::float8 AS s2,
             sum(bytes_out)::float8 AS s3, sum(live_in)::float8 AS s4, sum(live_out)::float8 AS s5
           FROM (${arms(tiles, "line_id, bucket, packets_in, packets_out, bytes_in, bytes_out, live_in, live_out", statsTable, "")}) t
           GROUP BY 1, 2 ORDER BY 2`,
        );
        // A view of the stored lines as PolicyStats presents them; policies numbered here.
        const policyIds = new Map<string, number>();
        const policies: { kind: number; namespace: string; name: string; tier: string }[] = [];
        const policyOf = (line: number) => {
          const l = lines.get(line)!;
          const k = JSON.stringify([l.kind, l.namespace, l.name, l.tier]);
          let p = policyIds.get(k);
          if (p === undefined) {
            p = policies.length;
            policyIds.set(k, p);
            policies.push(l);
          }
          return p;
        };
        const view: PolicyStatsView = {
          bucket: () => undefined,
          linePolicy: policyOf,
          lineAction: (line) => lines.get(line)!.action,
          lineRuleIndex: (line) => lines.get(line)!.rule_index,
          lineDirection: (line) => lines.get(line)!.direction,
          policyKind: (p) => policies[p]!.kind,
          policyNamespace: (p) => policies[p]!.namespace,
          policyName: (p) => policies[p]!.name,
          policyTier: (p) => policies[p]!.tier,
          linesOfSlot: () => undefined,
        };
        // One bucket per R (time series) or one for the whole range.
        const nb = group === 0 ? 1 : (to - from) / R;
        const buckets: (BucketStats | undefined)[] = new Array(nb).fill(undefined);
        for (const x of r.rows) {
          const i = group === 0 ? 0 : (Number(x.g) - from) / R;
          const bs = (buckets[i] ??= new BucketStats());
          const row = bs.row(x.line_id);
          const o = row * STAT_COUNTERS;
          const c = bs.counters;
          c[o] = x.s0;
          c[o + 1] = x.s1;
          c[o + 2] = x.s2;
          c[o + 3] = x.s3;
          c[o + 4] = x.s4;
          c[o + 5] = x.s5;
        }
        return answerFromBuckets(view, from, R, buckets, query);
      });
      return { answer, resolutionSec: R };
    },

    async claims(from, to) {
      await refreshKeys();
      const r = await q<{ bucket: string; key_id: number; node: string; start_sec: string; end_sec: string }>(
        "SELECT bucket, key_id, node, start_sec, end_sec FROM tributary_claims WHERE bucket >= $1 AND bucket < $2",
        [from, to],
      );
      return r.rows.map((x) => ({ bucket: Number(x.bucket), key: keys.get(x.key_id)!, node: x.node, start: Number(x.start_sec), end: Number(x.end_sec) }));
    },

    async rawRows(from, to) {
      const raw = config.levels[0]!;
      await refreshKeys();
      const r = await q<{ key_id: number; bucket: string; src: number; dst: number } & Record<string, number>>(
        `SELECT key_id, bucket, src, dst, packets_in::float8 AS c0, packets_out::float8 AS c1, bytes_in::float8 AS c2, bytes_out::float8 AS c3,
           conns_started::float8 AS c4, conns_completed::float8 AS c5, conns_live::float8 AS c6
         FROM ${flowsTable(raw)} WHERE bucket >= $1 AND bucket < $2 ORDER BY bucket, key_id`,
        [from, to],
      );
      await loadLabels(r.rows.flatMap((x) => [x.src, x.dst]));
      return r.rows.map((x) => ({
        bucket: Number(x.bucket),
        key: keys.get(x.key_id)!,
        src: labels.get(x.src)!,
        dst: labels.get(x.dst)!,
        counters: [x.c0!, x.c1!, x.c2!, x.c3!, x.c4!, x.c5!, x.c6!],
      }));
    },
  };
}
