import { KIND_END_OF_TIER, REPORTER_SRC, type FlowKeyModel, type IngestFlow, type PolicyHitModel } from "../model/flow.js";
import type { FlowStoreObserver } from "./flow-store.js";
import { grown } from "./grown.js";

/** RuleDirection values (goldmane/api.proto): Any marks a policy-total line. */
export const DIRECTION_ANY = 0;
export const DIRECTION_INGRESS = 1;
export const DIRECTION_EGRESS = 2;

/**
 * Counters kept per (line, bucket), in this order. "In/Out" of packets and bytes is the packet
 * direction; live connections go to `in` for ingress and `out` for egress (goldmane-spec §7.2).
 */
export const STAT_COUNTERS = 6;
export const STAT_PACKETS_IN = 0;
export const STAT_PACKETS_OUT = 1;
export const STAT_BYTES_IN = 2;
export const STAT_BYTES_OUT = 3;
export const STAT_LIVE_IN = 4;
export const STAT_LIVE_OUT = 5;

/** Marks a free line / policy id. */
const FREE = -1;

/** Per-bucket statistics rows: one per line with data in the bucket. */
export class BucketStats {
  /** Line id → row. */
  readonly rowOf = new Map<number, number>();
  /** Line id of each row. */
  lines = new Int32Array(8);
  /** {@link STAT_COUNTERS} per row. */
  counters = new Float64Array(8 * STAT_COUNTERS);

  /** Rows in use. */
  get size(): number {
    return this.rowOf.size;
  }

  /** The row of `line`, allocated (zeroed) when new (the caller sees `size` grow). */
  row(line: number): number {
    const r = this.rowOf.get(line);
    if (r !== undefined) return r;
    const n = this.rowOf.size;
    if (n === this.lines.length) {
      this.lines = grown(this.lines, n * 2);
      this.counters = grown(this.counters, n * 2 * STAT_COUNTERS);
    }
    this.lines[n] = line;
    this.rowOf.set(line, n);
    return n;
  }
}

/**
 * Adds one flow's (or one window's: the rule is linear in the counters) seven counters, starting
 * at `offset` in `counters` (COUNTER order of model/flow.ts), to each of `lines` in `bs`. When
 * `refs` is given, a line that gets a new row in `bs` takes a reference there.
 */
export function creditLines(
  bs: BucketStats,
  lines: Int32Array,
  counters: ArrayLike<number>,
  offset: number,
  reporter: number,
  refs: number[] | null,
  start = 0,
  end = lines.length,
): void {
  const pIn = counters[offset]!;
  const pOut = counters[offset + 1]!;
  const bIn = counters[offset + 2]!;
  const bOut = counters[offset + 3]!;
  const live = counters[offset + 6]!;
  // goldmane-spec §7.2: live connections go to "in" for ingress, "out" for egress (reporter Src).
  const liveAt = reporter === REPORTER_SRC ? STAT_LIVE_OUT : STAT_LIVE_IN;
  for (let i = start; i < end; i++) {
    const line = lines[i]!;
    const before = bs.size;
    const row = bs.row(line);
    if (refs !== null && bs.size !== before) refs[line]!++;
    const c = bs.counters;
    const base = row * STAT_COUNTERS;
    c[base + STAT_PACKETS_IN]! += pIn;
    c[base + STAT_PACKETS_OUT]! += pOut;
    c[base + STAT_BYTES_IN]! += bIn;
    c[base + STAT_BYTES_OUT]! += bOut;
    c[base + liveAt]! += live;
  }
}

/** Read-only view of the statistics lines and policies, as queries see them. */
export interface PolicyStatsView {
  /** Statistics of the bucket starting at `bucketStartSec`, or undefined when it has none. */
  bucket(bucketStartSec: number): BucketStats | undefined;
  /** Policy id of a line. */
  linePolicy(line: number): number;
  /** Action of a line (the hit's action; for a policy line, the flow's first hit on the policy). */
  lineAction(line: number): number;
  /** rule_index of a rule line (0 for a policy line). */
  lineRuleIndex(line: number): number;
  /** Direction of a rule line; {@link DIRECTION_ANY} for a policy-total line. */
  lineDirection(line: number): number;
  policyKind(policy: number): number;
  policyNamespace(policy: number): string;
  policyName(policy: number): string;
  policyTier(policy: number): string;
  /**
   * The lines one flow of the key in `slot` adds to, or undefined when the key is unknown here.
   * Read-only (used by the scoped path that recomputes per-bucket statistics from windows).
   */
  linesOfSlot(slot: number, key: FlowKeyModel): Int32Array | undefined;
}

/**
 * Per-bucket statistics per policy and per policy rule, kept at ingest (DESIGN §1 PolicyStats,
 * goldmane-spec §7.2, DESIGN §4 "Where we differ"). It observes the {@link FlowStore}: `onAdd`
 * credits one stored flow, `onRecycle` drops a bucket.
 *
 * A *line* is one thing counted:
 * - a **rule line** (policy, action, rule_index, direction Ingress/Egress): one per distinct rule
 *   key of a flow, so identical hits (e.g. the same hit enforced and pending) count once;
 * - a **policy line** (policy, action, direction Any): one per policy a flow hits, so the Policy
 *   grouping counts each flow once per policy. Its action is the flow's *first* hit on that policy
 *   in trace order (enforced before pending), so the enforced outcome wins over a staged one.
 *
 * Attribution (goldmane-spec §7.2): an EndOfTier hit is credited to its trigger policy with the
 * EndOfTier hit's own action and rule_index; Profile hits count; direction is egress iff the
 * reporter is Src. Unlike Goldmane, the rule index is the real `rule_index`.
 *
 * Memory: policies and lines are interned to small integers and reference-counted (by bucket rows
 * and by the per-key line cache), each bucket holds typed arrays of 6 counters per line present,
 * and the lines of a key are computed once per key (cached by slot, checked by key identity), so
 * ingest costs a few map lookups per flow.
 */
export class PolicyStats implements FlowStoreObserver, PolicyStatsView {
  private readonly buckets = new Map<number, BucketStats>();

  private readonly policyIds = new Map<string, number>();
  private readonly pKind: number[] = [];
  private readonly pNamespace: string[] = [];
  private readonly pName: string[] = [];
  private readonly pTier: string[] = [];
  private readonly pRefs: number[] = [];
  private readonly pSignature: string[] = [];
  private readonly pFree: number[] = [];

  private readonly lineIds = new Map<string, number>();
  private readonly lPolicy: number[] = [];
  private readonly lAction: number[] = [];
  private readonly lRuleIndex: number[] = [];
  private readonly lDirection: number[] = [];
  private readonly lRefs: number[] = [];
  private readonly lSignature: string[] = [];
  private readonly lFree: number[] = [];

  /**
   * Per key slot: the key the cached lines belong to, and where its lines are in {@link linePool}
   * (one shared Int32Array, not one typed array per key: ~200 bytes per key less, issue 15).
   */
  private readonly slotKey: (FlowKeyModel | undefined)[] = [];
  private slotStart = new Int32Array(0);
  private slotCount = new Int32Array(0);
  private linePool = new Int32Array(1024);
  /** End of the used part of {@link linePool}, and how much of it belongs to no slot. */
  private poolEnd = 0;
  private poolGarbage = 0;

  /** Interned policies alive (for tests and metrics). */
  get policyCount(): number {
    return this.policyIds.size;
  }

  /** Interned lines alive (for tests and metrics). */
  get lineCount(): number {
    return this.lineIds.size;
  }

  /** Buckets holding statistics. */
  get bucketCount(): number {
    return this.buckets.size;
  }

  onAdd(slot: number, key: FlowKeyModel, bucketStartSec: number, counters: ArrayLike<number>): void {
    if (this.slotKey[slot] !== key) this.bind(slot, key);
    const count = this.slotCount[slot]!;
    if (count === 0) return;
    let bs = this.buckets.get(bucketStartSec);
    if (!bs) {
      bs = new BucketStats();
      this.buckets.set(bucketStartSec, bs);
    }
    const start = this.slotStart[slot]!;
    creditLines(bs, this.linePool, counters, 0, key.reporter, this.lRefs, start, start + count);
  }

  onRecycle(bucketStartSec: number): void {
    const bs = this.buckets.get(bucketStartSec);
    if (!bs) return;
    this.buckets.delete(bucketStartSec);
    const n = bs.size;
    for (let r = 0; r < n; r++) this.releaseLine(bs.lines[r]!);
  }

  bucket(bucketStartSec: number): BucketStats | undefined {
    return this.buckets.get(bucketStartSec);
  }

  linePolicy(line: number): number {
    return this.lPolicy[line]!;
  }
  lineAction(line: number): number {
    return this.lAction[line]!;
  }
  lineRuleIndex(line: number): number {
    return this.lRuleIndex[line]!;
  }
  lineDirection(line: number): number {
    return this.lDirection[line]!;
  }
  policyKind(policy: number): number {
    return this.pKind[policy]!;
  }
  policyNamespace(policy: number): string {
    return this.pNamespace[policy]!;
  }
  policyName(policy: number): string {
    return this.pName[policy]!;
  }
  policyTier(policy: number): string {
    return this.pTier[policy]!;
  }

  linesOfSlot(slot: number, key: FlowKeyModel): Int32Array | undefined {
    if (this.slotKey[slot] !== key) return undefined;
    const start = this.slotStart[slot]!;
    return this.linePool.subarray(start, start + this.slotCount[slot]!);
  }

  /**
   * Computes and caches the lines of the key now in `slot`, releasing those of the key that held
   * the slot before (slots are reused after a key expires; the stale cache is released here).
   */
  private bind(slot: number, key: FlowKeyModel): void {
    const lines = this.linesOf(key);
    for (let i = 0; i < lines.length; i++) this.lRefs[lines[i]!]!++;
    if (slot >= this.slotStart.length) this.growSlots(slot + 1);
    if (this.slotKey[slot] !== undefined) {
      const start = this.slotStart[slot]!;
      const count = this.slotCount[slot]!;
      for (let i = start; i < start + count; i++) this.releaseLine(this.linePool[i]!);
      this.poolGarbage += count;
      this.slotCount[slot] = 0;
    }
    this.slotKey[slot] = key;
    if (this.poolEnd + lines.length > this.linePool.length) this.compactPool(lines.length);
    this.linePool.set(lines, this.poolEnd);
    this.slotStart[slot] = this.poolEnd;
    this.slotCount[slot] = lines.length;
    this.poolEnd += lines.length;
  }

  private growSlots(min: number): void {
    const cap = Math.max(1024, min, this.slotStart.length * 2);
    this.slotStart = grown(this.slotStart, cap);
    this.slotCount = grown(this.slotCount, cap);
  }

  /**
   * Makes room for `need` more entries: copies the live ranges into a new pool, twice as large
   * when less than half of the old one was garbage (amortised O(1) per bind).
   */
  private compactPool(need: number): void {
    const live = this.poolEnd - this.poolGarbage;
    const cap = this.poolGarbage * 2 >= this.poolEnd ? Math.max(1024, 2 * (live + need)) : Math.max(1024, 2 * this.linePool.length, 2 * (live + need));
    const next = new Int32Array(cap);
    let end = 0;
    for (let slot = 0; slot < this.slotKey.length; slot++) {
      if (this.slotKey[slot] === undefined) continue;
      const start = this.slotStart[slot]!;
      const count = this.slotCount[slot]!;
      next.set(this.linePool.subarray(start, start + count), end);
      this.slotStart[slot] = end;
      end += count;
    }
    this.linePool = next;
    this.poolEnd = end;
    this.poolGarbage = 0;
  }

  /** The distinct rule lines and policy lines of one flow of `key` (new lines have 0 refs). */
  private linesOf(key: FlowKeyModel): Int32Array {
    const direction = key.reporter === REPORTER_SRC ? DIRECTION_EGRESS : DIRECTION_INGRESS;
    const rules: number[] = [];
    const policies: number[] = [];
    const policyActions: number[] = [];
    const visit = (h: PolicyHitModel) => {
      // EndOfTier: credited to the policy that triggered it, with its own action and rule index.
      const meta = h.kind === KIND_END_OF_TIER && h.trigger ? h.trigger : h;
      const policy = this.internPolicy(meta);
      const rule = this.internLine(policy, h.action, h.ruleIndex, direction);
      if (!rules.includes(rule)) rules.push(rule);
      if (!policies.includes(policy)) {
        policies.push(policy);
        policyActions.push(h.action);
      }
    };
    key.enforced.forEach(visit);
    key.pending.forEach(visit);
    const out = new Int32Array(rules.length + policies.length);
    out.set(rules);
    for (let i = 0; i < policies.length; i++) {
      out[rules.length + i] = this.internLine(policies[i]!, policyActions[i]!, 0, DIRECTION_ANY);
    }
    // Policies are referenced by their lines only, so one that got no new line was already live.
    return out;
  }

  private internPolicy(h: PolicyHitModel): number {
    const sig = `${h.kind}|${h.namespace.length}:${h.namespace}${h.name.length}:${h.name}${h.tier}`;
    let id = this.policyIds.get(sig);
    if (id !== undefined) return id;
    id = this.pFree.pop() ?? this.pKind.length;
    this.pKind[id] = h.kind;
    this.pNamespace[id] = h.namespace;
    this.pName[id] = h.name;
    this.pTier[id] = h.tier;
    this.pRefs[id] = 0;
    this.pSignature[id] = sig;
    this.policyIds.set(sig, id);
    return id;
  }

  private internLine(policy: number, action: number, ruleIndex: number, direction: number): number {
    const sig = `${policy}|${action}|${ruleIndex}|${direction}`;
    let id = this.lineIds.get(sig);
    if (id !== undefined) return id;
    id = this.lFree.pop() ?? this.lPolicy.length;
    this.lPolicy[id] = policy;
    this.lAction[id] = action;
    this.lRuleIndex[id] = ruleIndex;
    this.lDirection[id] = direction;
    this.lRefs[id] = 0;
    this.lSignature[id] = sig;
    this.lineIds.set(sig, id);
    this.pRefs[policy]!++;
    return id;
  }

  private releaseLine(line: number): void {
    if (--this.lRefs[line]! > 0) return;
    this.lineIds.delete(this.lSignature[line]!);
    this.lSignature[line] = "";
    const policy = this.lPolicy[line]!;
    this.lPolicy[line] = FREE;
    this.lFree.push(line);
    if (--this.pRefs[policy]! > 0) return;
    this.policyIds.delete(this.pSignature[policy]!);
    this.pSignature[policy] = "";
    this.pNamespace[policy] = "";
    this.pName[policy] = "";
    this.pTier[policy] = "";
    this.pFree.push(policy);
  }
}
