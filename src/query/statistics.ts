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

/** Accumulates one result: its policy or line id, and its points. */
interface Acc {
  readonly id: number;
  lastBucket: number;
  readonly x: number[];
  /**
   * Six values per point, interleaved (allowedIn, allowedOut, deniedIn, deniedOut, passedIn,
   * passedOut): one push per point instead of six arrays, split once at the end.
   */
  readonly v: number[];
}

/** Per-line facts read once per query (lines repeat in every bucket). */
const LINE_SKIP = 0;
const LINE_COUNT = 1;
const LINE_WITH_ACTION = 2;

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
export function listStatistics(store: FlowStore, stats: PolicyStatsView, q: StatisticsQuery): StatisticsRow[] {
  if (q.type !== STATISTIC_PACKET_COUNT && q.type !== STATISTIC_BYTE_COUNT && q.type !== STATISTIC_LIVE_CONNECTION_COUNT) {
    throw new QueryError("type", `unsupported statistic type ${q.type}`);
  }
  if (q.groupBy !== GROUP_BY_POLICY && q.groupBy !== GROUP_BY_POLICY_RULE) {
    throw new QueryError("group_by", `unsupported group_by ${q.groupBy}`);
  }
  const { gteSec, ltSec } = q.range;
  const ring = store.ring;
  // goldmane-spec §7.1: both ends must fall in a bucket of the ring.
  if (!ring.accepts(gteSec) || !ring.accepts(ltSec)) {
    throw new QueryError(ring.accepts(gteSec) ? "start_time_lt" : "start_time_gte", `failed to find bucket for time range ${gteSec}:${ltSec}`);
  }
  const W = store.windowSec;
  const from = bucketStart(gteSec, W);
  const to = bucketStart(ltSec, W);

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

  // Indexed by policy id (Policy grouping) or line id (PolicyRule): ids are small integers.
  const accOf: (Acc | undefined)[] = [];
  const accs: Acc[] = [];
  // Per line: what to do with its rows (LINE_*), the result id it counts to, and its pair offset.
  const lineState: number[] = [];
  const lineTarget: number[] = [];
  const linePair: number[] = [];
  const [inAt, outAt] =
    q.type === STATISTIC_PACKET_COUNT
      ? [STAT_PACKETS_IN, STAT_PACKETS_OUT]
      : q.type === STATISTIC_BYTE_COUNT
        ? [STAT_BYTES_IN, STAT_BYTES_OUT]
        : [STAT_LIVE_IN, STAT_LIVE_OUT];
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
    lineTarget[line] = byPolicy ? policy : line;
    linePair[line] = action === ACTION_ALLOW ? 0 : action === ACTION_DENY ? 2 : action === ACTION_PASS ? 4 : -1;
    return state;
  };

  for (let b = from; b < to; b += W) {
    const bs = q.scope ? bucketFromWindows(store, stats, b, q.scope) : stats.bucket(b);
    if (!bs) continue;
    const n = bs.size;
    const lines = bs.lines;
    const counters = bs.counters;
    for (let r = 0; r < n; r++) {
      const line = lines[r]!;
      const state = lineState[line] ?? classify(line);
      if (state === LINE_SKIP) continue;
      const id = lineTarget[line]!;
      if (state === LINE_WITH_ACTION) {
        withAction.add(id);
        continue;
      }
      let acc = accOf[id];
      if (acc === undefined) {
        acc = { id, lastBucket: Number.NaN, x: [], v: [] };
        accOf[id] = acc;
        accs.push(acc);
      }
      if (acc.lastBucket !== b && (q.timeSeries || acc.x.length === 0)) {
        acc.x.push(b);
        acc.v.push(0, 0, 0, 0, 0, 0);
      }
      acc.lastBucket = b;
      const pair = linePair[line]!;
      if (pair < 0) continue; // ActionUnspecified: the entry exists, with zero counts (spec §7.2)
      const at = acc.v.length - 6 + pair;
      const base = r * STAT_COUNTERS;
      acc.v[at]! += counters[base + inAt]!;
      acc.v[at + 1]! += counters[base + outAt]!;
    }
  }

  const rows: StatisticsRow[] = [];
  const column = (v: number[], k: number): number[] => {
    const out = new Array<number>(v.length / 6);
    for (let i = 0; i < out.length; i++) out[i] = v[6 * i + k]!;
    return out;
  };
  for (const acc of accs) {
    if (byPolicy && m.action !== 0 && !withAction.has(acc.id)) continue;
    const policy = byPolicy ? acc.id : stats.linePolicy(acc.id);
    rows.push({
      kind: stats.policyKind(policy),
      namespace: stats.policyNamespace(policy),
      name: stats.policyName(policy),
      tier: stats.policyTier(policy),
      action: byPolicy ? 0 : stats.lineAction(acc.id),
      ruleIndex: byPolicy ? 0 : stats.lineRuleIndex(acc.id),
      direction: byPolicy ? DIRECTION_ANY : stats.lineDirection(acc.id),
      groupBy: q.groupBy,
      type: q.type,
      allowedIn: column(acc.v, 0),
      allowedOut: column(acc.v, 1),
      deniedIn: column(acc.v, 2),
      deniedOut: column(acc.v, 3),
      passedIn: column(acc.v, 4),
      passedOut: column(acc.v, 5),
      x: q.timeSeries ? acc.x : null,
    });
  }
  rows.sort(compareStatisticsRows);
  return rows;
}

/**
 * The documented result order: tier, kind (by Goldmane's short kind name: gnp, kcnp, knp, np, pro,
 * sgnp, sknp, snp, then other kinds by number), namespace, name — byte-wise — then action, rule_index
 * and direction, numerically. Total on distinct results, so the order is deterministic.
 */
export function compareStatisticsRows(a: StatisticsRow, b: StatisticsRow): number {
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
