import { createHash } from "node:crypto";
import { keyString, traceString } from "../model/flow-key.js";
import { COUNTERS, type FlowKeyModel } from "../model/flow.js";
import type { FlowStore } from "../storage/flow-store.js";
import { STAT_COUNTERS, type PolicyStatsView } from "../storage/policy-stats.js";

/** One closed bucket, copied out of memory when it closes (the writer queue holds these). */
export interface ClosedBucket {
  readonly start: number;
  /** Per row: the key's in-memory id, key, labels; counters in `counters`. */
  readonly memIds: number[];
  readonly keys: FlowKeyModel[];
  readonly src: (readonly string[])[];
  readonly dst: (readonly string[])[];
  /** COUNTERS per row. */
  readonly counters: Float64Array;
  /** Statistics lines: descriptor "kind|action|rule|direction|tier|namespace|name" and 6 counters each. */
  readonly lines: StatLine[];
  readonly lineCounters: Float64Array;
  /** Dedup claims of the bucket (row index, node name, start, end): a restart restores them. */
  readonly claims: { row: number; node: string; start: number; end: number }[];
}

/** A Statistics line as stored in `tributary_stat_lines`. */
export interface StatLine {
  readonly kind: number;
  readonly namespace: string;
  readonly name: string;
  readonly tier: string;
  readonly action: number;
  readonly ruleIndex: number;
  readonly direction: number;
}

/** The cache key of a Statistics line. */
export const lineKey = (l: StatLine) => JSON.stringify([l.kind, l.namespace, l.name, l.tier, l.action, l.ruleIndex, l.direction]);

/** sha256 of a key's canonical identity string (model/flow-key.ts): `tributary_keys.sig`. */
export const keySig = (key: FlowKeyModel) => createHash("sha256").update(keyString(key, traceString(key.enforced, key.pending))).digest();

/** Copies bucket `b` out of the store (synchronously: the store keeps changing afterwards). */
export function extractBucket(store: FlowStore, stats: PolicyStatsView, b: number, nodeNames: readonly string[]): ClosedBucket {
  const rows = store.ring.rowsOf(b);
  const s = store.series;
  const keys = store.keys;
  const n = rows.length;
  const out: ClosedBucket = {
    start: b,
    memIds: new Array<number>(n),
    keys: new Array<FlowKeyModel>(n),
    src: new Array<readonly string[]>(n),
    dst: new Array<readonly string[]>(n),
    counters: new Float64Array(n * COUNTERS),
    lines: [],
    lineCounters: new Float64Array(0),
    claims: [],
  };
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const slot = s.keySlot[row]!;
    out.memIds[i] = keys.ids[slot]!;
    out.keys[i] = keys.keys[slot]!;
    out.src[i] = store.labels.values(s.sourceLabels[row]!);
    out.dst[i] = store.labels.values(s.destLabels[row]!);
    out.counters.set(s.counters.subarray(row * COUNTERS, row * COUNTERS + COUNTERS), i * COUNTERS);
    s.forEachClaim(row, (node, start, end) => {
      const name = nodeNames[node];
      if (name !== undefined) out.claims.push({ row: i, node: name, start, end });
    });
  }
  const bs = stats.bucket(b);
  if (bs) {
    const lc = new Float64Array(bs.size * STAT_COUNTERS);
    for (let r = 0; r < bs.size; r++) {
      const line = bs.lines[r]!;
      const p = stats.linePolicy(line);
      out.lines.push({
        kind: stats.policyKind(p),
        namespace: stats.policyNamespace(p),
        name: stats.policyName(p),
        tier: stats.policyTier(p),
        action: stats.lineAction(line),
        ruleIndex: stats.lineRuleIndex(line),
        direction: stats.lineDirection(line),
      });
      lc.set(bs.counters.subarray(r * STAT_COUNTERS, r * STAT_COUNTERS + STAT_COUNTERS), r * STAT_COUNTERS);
    }
    (out as { lineCounters: Float64Array }).lineCounters = lc;
  }
  return out;
}
