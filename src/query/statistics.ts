import { compareUtf8 } from "../model/compare.js";
import { ACTION_ALLOW, ACTION_DENY, ACTION_PASS, COUNTERS } from "../model/flow.js";
import { bucketStart } from "../model/time.js";
import type { FlowStore } from "../storage/flow-store.js";
import {
  BucketStats,
  creditLines,
  DIRECTION_ANY,
  STAT_BYTES_IN,
  STAT_BYTES_OUT,
  STAT_COUNTERS,
  STAT_LIVE_IN,
  STAT_LIVE_OUT,
  STAT_PACKETS_IN,
  STAT_PACKETS_OUT,
  type PolicyStatsView,
} from "../storage/policy-stats.js";
import { QueryError } from "./errors.js";
import { stringMatches, type KeyPredicate, type PolicyMatchSpec } from "./filter.js";
import type { TimeRange } from "./time-range.js";

/** StatisticType values (goldmane/api.proto). */
export const STATISTIC_PACKET_COUNT = 0;
export const STATISTIC_BYTE_COUNT = 1;
export const STATISTIC_LIVE_CONNECTION_COUNT = 2;

/** StatisticsGroupBy values (goldmane/api.proto). */
export const GROUP_BY_POLICY = 0;
export const GROUP_BY_POLICY_RULE = 1;

/** A validated Statistics.List request (time range already normalised). */
export interface StatisticsQuery {
  readonly range: TimeRange;
  /** StatisticType: 0 packets, 1 bytes, 2 live connections. */
  readonly type: number;
  /** StatisticsGroupBy: 0 Policy, 1 PolicyRule. */
  readonly groupBy: number;
  /** Empty strings / zero enums mean "any"; strings match exactly (the proto fields are plain strings). */
  readonly policyMatch: PolicyMatchSpec;
  readonly timeSeries: boolean;
  /**
   * Only flows of keys passing this predicate count (issue 8: a QUERY token scoped to namespaces).
   * When set, per-bucket statistics are recomputed from the key windows of the range (exact: the
   * counting rule is linear in the counters) instead of read from the ingest-time index; that costs
   * O(key windows in the range) instead of O(statistics lines in the range).
   */
  readonly scope?: KeyPredicate;
}

/** One StatisticsResult, as plain data. */
export interface StatisticsRow {
  readonly kind: number;
  readonly namespace: string;
  readonly name: string;
  readonly tier: string;
  /** 0 for the Policy grouping. */
  readonly action: number;
  /** The real rule_index for the PolicyRule grouping; 0 for the Policy grouping. */
  readonly ruleIndex: number;
  /** RuleDirection: Any (0) for the Policy grouping, Ingress (1) / Egress (2) per rule. */
  readonly direction: number;
  readonly groupBy: number;
  readonly type: number;
  readonly allowedIn: number[];
  readonly allowedOut: number[];
  readonly deniedIn: number[];
  readonly deniedOut: number[];
  readonly passedIn: number[];
  readonly passedOut: number[];
  /** Bucket starts, one per element, when time_series is set; null otherwise. */
  readonly x: number[] | null;
}

/**
 * Goldmane's short kind names (goldmane-spec §7.3): results sort by these, byte-wise, as Goldmane's
 * comparator effectively does. Kinds without one sort after them, by number.
 */
const SHORT_KIND: Record<number, string> = {
  1: "np",
  2: "gnp",
  3: "snp",
  4: "sgnp",
  5: "sknp",
  6: "knp",
  9: "pro",
  11: "kcnp",
};

const SHORT_KINDS_SORTED = Object.values(SHORT_KIND).sort(compareUtf8);

function kindRank(kind: number): number {
  const short = SHORT_KIND[kind];
  return short === undefined ? SHORT_KINDS_SORTED.length + kind : SHORT_KINDS_SORTED.indexOf(short);
}

/**
 * One result of Statistics.List with its points in typed arrays, as the query builds them: the
 * encoder writes the packed fields straight from these (server/statistics-encode.ts), so a
 * PolicyRule time series at 100 000 keys (~1 000 results × 240 buckets) allocates a dozen typed
 * arrays per result instead of millions of array slots (issue 15).
 */
export interface StatisticsSeries {
  readonly kind: number;
  readonly namespace: string;
  readonly name: string;
  readonly tier: string;
  readonly action: number;
  readonly ruleIndex: number;
  readonly direction: number;
  readonly groupBy: number;
  readonly type: number;
  /** Points (1 without time_series). */
  readonly length: number;
  /**
   * Six values per point, interleaved: allowedIn, allowedOut, deniedIn, deniedOut, passedIn,
   * passedOut (index 6·i + k); may be longer than 6·length.
   */
  readonly values: Float64Array;
  /** Bucket start of each point when time_series is set (may be longer than length); null otherwise. */
  readonly x: Float64Array | null;
}

/** Per-line facts read once per query (lines repeat in every bucket). */
const LINE_SKIP = 0;
const LINE_COUNT = 1;
const LINE_WITH_ACTION = 2;

/**
 * The answer of Statistics.List, computed one result at a time: the ordered results are known
 * after one pass over the range's statistics rows (which also records, per counted line and
 * bucket, the row holding it); {@link series} then sums one result's points. So results can be
 * encoded and sent as they are built, and a query holds one small index instead of every point
 * (issue 15: ~1 000 results × 240 buckets for PolicyRule with time series at 100 000 keys).
 */
export interface StatisticsAnswer {
  /** Results, in the documented order. */
  readonly size: number;
  /**
   * Result `i` with its points. The arrays are reused by the next call: encode or copy first.
   * Reads the buckets captured by the query (a bucket recycled meanwhile keeps its rows).
   */
  series(i: number): StatisticsSeries;
}

/** One result before its points: what orders it, and the line slots it sums. */
interface ResultMeta {
  readonly kind: number;
  readonly namespace: string;
  readonly name: string;
  readonly tier: string;
  readonly action: number;
  readonly ruleIndex: number;
  readonly direction: number;
  /** Indices into the per-query line table (several for a policy with lines of several actions). */
  readonly slots: number[];
  /** Policy id (Policy grouping) or line id (PolicyRule). */
  readonly target: number;
}

/**
 * Statistics.List (goldmane-spec §7, DESIGN §4):
 * - buckets from the one containing `gte` (inclusive, even mid-bucket) to the one containing `lt`
 *   (exclusive), oldest first; `gte` or `lt` outside the ring → INVALID_ARGUMENT;
 * - Policy grouping: one result per policy, each flow counted once per policy (see
 *   storage/policy-stats.ts), direction Any, action and rule_index 0; PolicyRule grouping: one
 *   result per (policy, action, rule_index, direction);
 * - policy_match: tier/namespace/name exact (empty = any), kind (0 = any), action (0 = any) matches
 *   rules: a rule result when its action is that action; a Policy result when at least one of the
 *   policy's rules in the iterated buckets has that action (the result then holds all the policy's
 *   counts, every action included);
 * - time_series: one element per bucket in which the policy/rule appeared, oldest first, with
 *   x = bucket starts; otherwise exactly one element per array and no x;
 * - order: tier, kind (Goldmane's short kind name), namespace, name (all byte-wise), then action,
 *   rule_index and direction (numerically).
 * An empty answer is the caller's NOT_FOUND.
 */
export function statisticsAnswer(store: FlowStore, stats: PolicyStatsView, q: StatisticsQuery): StatisticsAnswer {
  checkStatisticsQuery(q);
  const { gteSec, ltSec } = q.range;
  const ring = store.ring;
  // goldmane-spec §7.1: both ends must fall in a bucket of the ring.
  if (!ring.accepts(gteSec) || !ring.accepts(ltSec)) {
    throw new QueryError(ring.accepts(gteSec) ? "start_time_lt" : "start_time_gte", `failed to find bucket for time range ${gteSec}:${ltSec}`);
  }
  const W = store.windowSec;
  const from = bucketStart(gteSec, W);
  const to = bucketStart(ltSec, W);
  const nb = Math.max(0, (to - from) / W);
  // The buckets of the range, captured now (scoped: recomputed from the in-scope windows).
  const buckets: (BucketStats | undefined)[] = [];
  for (let i = 0; i < nb; i++) buckets.push(q.scope ? bucketFromWindows(store, stats, from + i * W, q.scope) : stats.bucket(from + i * W));
  return answerFromBuckets(stats, from, W, buckets, q);
}

/** Rejects an unsupported statistic type or grouping (INVALID_ARGUMENT naming the field). */
export function checkStatisticsQuery(q: Pick<StatisticsQuery, "type" | "groupBy">): void {
  if (q.type !== STATISTIC_PACKET_COUNT && q.type !== STATISTIC_BYTE_COUNT && q.type !== STATISTIC_LIVE_CONNECTION_COUNT) {
    throw new QueryError("type", `unsupported statistic type ${q.type}`);
  }
  if (q.groupBy !== GROUP_BY_POLICY && q.groupBy !== GROUP_BY_POLICY_RULE) {
    throw new QueryError("group_by", `unsupported group_by ${q.groupBy}`);
  }
}

/**
 * The counting rules of Statistics.List over consecutive buckets of width `step` starting at
 * `from` (`buckets[i]` = the bucket at from + i·step, undefined when empty): shared by the
 * in-memory path and the PostgreSQL history (whose buckets are of the resolution it used).
 */
export function answerFromBuckets(
  stats: PolicyStatsView,
  from: number,
  W: number,
  buckets: readonly (BucketStats | undefined)[],
  q: StatisticsQuery,
): StatisticsAnswer {
  const nb = buckets.length;
  const m = q.policyMatch;
  const byPolicy = q.groupBy === GROUP_BY_POLICY;
  // Policy-level criteria, memoised per policy id (policies are few, rows many).
  const policyOk = new Map<number, boolean>();
  const matchesPolicy = (p: number): boolean => {
    let ok = policyOk.get(p);
    if (ok === undefined) {
      ok =
        (m.kind === 0 || stats.policyKind(p) === m.kind) &&
        stringMatches(m.tier, stats.policyTier(p)) &&
        stringMatches(m.namespace, stats.policyNamespace(p)) &&
        stringMatches(m.name, stats.policyName(p));
      policyOk.set(p, ok);
    }
    return ok;
  };
  // Policies with a rule of the requested action in the range (Policy grouping with an action).
  const withAction = new Set<number>();
  // Per line id: what to do with its rows (LINE_*), its slot in the line table (counted lines).
  const lineState: number[] = [];
  const lineSlot: number[] = [];
  // The line table: counted lines, their pair offset (-1: ActionUnspecified) and result.
  const slotLine: number[] = [];
  const slotPair: number[] = [];
  const resultOf = new Map<number, ResultMeta>();
  const results: ResultMeta[] = [];
  const classify = (line: number): number => {
    const policy = stats.linePolicy(line);
    const isPolicyLine = stats.lineDirection(line) === DIRECTION_ANY;
    const action = stats.lineAction(line);
    let state = LINE_SKIP;
    if (matchesPolicy(policy)) {
      if (byPolicy) {
        if (isPolicyLine) state = LINE_COUNT;
        else if (m.action !== 0 && action === m.action) state = LINE_WITH_ACTION;
      } else if (!isPolicyLine && (m.action === 0 || action === m.action)) state = LINE_COUNT;
    }
    lineState[line] = state;
    if (state === LINE_WITH_ACTION) lineSlot[line] = policy;
    if (state !== LINE_COUNT) return state;
    const target = byPolicy ? policy : line;
    let res = resultOf.get(target);
    if (res === undefined) {
      res = {
        kind: stats.policyKind(policy),
        namespace: stats.policyNamespace(policy),
        name: stats.policyName(policy),
        tier: stats.policyTier(policy),
        action: byPolicy ? 0 : action,
        ruleIndex: byPolicy ? 0 : stats.lineRuleIndex(line),
        direction: byPolicy ? DIRECTION_ANY : stats.lineDirection(line),
        slots: [],
        target,
      };
      resultOf.set(target, res);
      results.push(res);
    }
    const slot = slotLine.length;
    slotLine.push(line);
    slotPair.push(action === ACTION_ALLOW ? 0 : action === ACTION_DENY ? 2 : action === ACTION_PASS ? 4 : -1);
    res.slots.push(slot);
    lineSlot[line] = slot;
    return state;
  };
  // Pass 1: classify every line of the range (and note the policies with the requested action).
  for (const bs of buckets) {
    if (!bs) continue;
    const n = bs.size;
    const lines = bs.lines;
    for (let r = 0; r < n; r++) {
      const line = lines[r]!;
      const state = lineState[line] ?? classify(line);
      if (state === LINE_WITH_ACTION) withAction.add(lineSlot[line]!);
    }
  }
  // Pass 2: the row of each counted line in each bucket (-1: absent), slot-major.
  const rowAt = new Int32Array(slotLine.length * nb).fill(-1);
  for (let i = 0; i < nb; i++) {
    const bs = buckets[i];
    if (!bs) continue;
    const n = bs.size;
    const lines = bs.lines;
    for (let r = 0; r < n; r++) {
      const line = lines[r]!;
      if (lineState[line] === LINE_COUNT) rowAt[lineSlot[line]! * nb + i] = r;
    }
  }
  const kept = byPolicy && m.action !== 0 ? results.filter((r) => withAction.has(r.target)) : results;
  kept.sort(compareStatisticsRows);

  const [inAt, outAt] =
    q.type === STATISTIC_PACKET_COUNT
      ? [STAT_PACKETS_IN, STAT_PACKETS_OUT]
      : q.type === STATISTIC_BYTE_COUNT
        ? [STAT_BYTES_IN, STAT_BYTES_OUT]
        : [STAT_LIVE_IN, STAT_LIVE_OUT];
  const values = new Float64Array(6 * Math.max(1, nb));
  const x = new Float64Array(Math.max(1, nb));
  return {
    size: kept.length,
    series(k: number): StatisticsSeries {
      const res = kept[k]!;
      const slots = res.slots;
      let n = 0;
      for (let i = 0; i < nb; i++) {
        const bs = buckets[i];
        if (!bs) continue;
        let present = false;
        for (let j = 0; j < slots.length; j++) {
          const slot = slots[j]!;
          const r = rowAt[slot * nb + i]!;
          if (r < 0) continue;
          if (!present) {
            present = true;
            // One point per bucket the result appears in (time series), else one point in all.
            if (q.timeSeries || n === 0) {
              values.fill(0, 6 * n, 6 * n + 6);
              x[n++] = from + i * W;
            }
          }
          const pair = slotPair[slot]!;
          if (pair < 0) continue; // ActionUnspecified: the entry exists, with zero counts (spec §7.2)
          const at = 6 * (n - 1) + pair;
          const base = r * STAT_COUNTERS;
          const c = bs.counters;
          values[at]! += c[base + inAt]!;
          values[at + 1]! += c[base + outAt]!;
        }
      }
      const { kind, namespace, name, tier, action, ruleIndex, direction } = res;
      return { kind, namespace, name, tier, action, ruleIndex, direction, groupBy: q.groupBy, type: q.type, length: n, values, x: q.timeSeries ? x : null };
    },
  };
}

/** Every result of {@link statisticsAnswer}, each with its own arrays (in order). */
export function statisticsSeries(store: FlowStore, stats: PolicyStatsView, q: StatisticsQuery): StatisticsSeries[] {
  const answer = statisticsAnswer(store, stats, q);
  const out: StatisticsSeries[] = [];
  for (let i = 0; i < answer.size; i++) {
    const s = answer.series(i);
    out.push({ ...s, values: s.values.slice(0, 6 * s.length), x: s.x ? s.x.slice(0, s.length) : null });
  }
  return out;
}

/** Statistics.List as plain rows (arrays of numbers): {@link statisticsSeries}, unpacked. */
export function listStatistics(store: FlowStore, stats: PolicyStatsView, q: StatisticsQuery): StatisticsRow[] {
  return statisticsSeries(store, stats, q).map(seriesRow);
}

/** One series as a {@link StatisticsRow} (JSON callers and tests). */
export function seriesRow(s: StatisticsSeries): StatisticsRow {
  const column = (k: number): number[] => {
    const out = new Array<number>(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.values[6 * i + k]!;
    return out;
  };
  return {
    kind: s.kind,
    namespace: s.namespace,
    name: s.name,
    tier: s.tier,
    action: s.action,
    ruleIndex: s.ruleIndex,
    direction: s.direction,
    groupBy: s.groupBy,
    type: s.type,
    allowedIn: column(0),
    allowedOut: column(1),
    deniedIn: column(2),
    deniedOut: column(3),
    passedIn: column(4),
    passedOut: column(5),
    x: s.x ? Array.from(s.x.subarray(0, s.length)) : null,
  };
}

/** The fields the result order reads. */
export type StatisticsOrderFields = Pick<StatisticsRow, "tier" | "kind" | "namespace" | "name" | "action" | "ruleIndex" | "direction">;

/**
 * The documented result order: tier, kind (by Goldmane's short kind name: gnp, kcnp, knp, np, pro,
 * sgnp, sknp, snp, then other kinds by number), namespace, name — byte-wise — then action, rule_index
 * and direction, numerically. Total on distinct results, so the order is deterministic.
 */
export function compareStatisticsRows(a: StatisticsOrderFields, b: StatisticsOrderFields): number {
  return (
    compareUtf8(a.tier, b.tier) ||
    kindRank(a.kind) - kindRank(b.kind) ||
    compareUtf8(a.namespace, b.namespace) ||
    compareUtf8(a.name, b.name) ||
    a.action - b.action ||
    a.ruleIndex - b.ruleIndex ||
    a.direction - b.direction
  );
}

/** The statistics of one bucket restricted to keys passing `scope`, computed from their windows. */
function bucketFromWindows(store: FlowStore, stats: PolicyStatsView, b: number, scope: KeyPredicate): BucketStats | undefined {
  const rows = store.ring.rowsOf(b);
  const s = store.series;
  const keys = store.keys;
  let bs: BucketStats | undefined;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const slot = s.keySlot[row]!;
    const key = keys.keys[slot];
    if (key === undefined || !scope(key)) continue;
    const lines = stats.linesOfSlot(slot, key);
    if (!lines || lines.length === 0) continue;
    bs ??= new BucketStats();
    creditLines(bs, lines, s.counters, row * COUNTERS, key.reporter, null);
  }
  return bs;
}
