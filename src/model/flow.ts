/**
 * Internal flow types (DESIGN.md §2 `model/`). Storage, query and stream code work on these plain
 * shapes; only the conversion functions in this folder know the generated protobuf classes.
 * Enum fields keep Goldmane's numeric enum values, so conversions are the identity.
 */

/** One policy rule traversed by a flow (PolicyHit without protobuf baggage). */
export interface PolicyHitModel {
  readonly kind: number;
  readonly namespace: string;
  readonly name: string;
  readonly tier: string;
  readonly action: number;
  readonly policyIndex: number;
  readonly ruleIndex: number;
  /** The policy that triggered an EndOfTier hit; null for every other kind. */
  readonly trigger: PolicyHitModel | null;
}

/** Every identifying field of a flow (Goldmane's FlowKey), with the policy trace canonicalised. */
export interface FlowKeyModel {
  readonly sourceName: string;
  readonly sourceNamespace: string;
  readonly sourceType: number;
  readonly destName: string;
  readonly destNamespace: string;
  readonly destType: number;
  readonly destPort: number;
  readonly destServiceName: string;
  readonly destServiceNamespace: string;
  readonly destServicePortName: string;
  readonly destServicePort: number;
  readonly proto: string;
  readonly reporter: number;
  readonly action: number;
  /** Enforced hits, stable-sorted by policy_index. */
  readonly enforced: readonly PolicyHitModel[];
  /** Pending (staged) hits, stable-sorted by policy_index. */
  readonly pending: readonly PolicyHitModel[];
}

/** Number of counters per flow, in {@link COUNTER_NAMES} order. */
export const COUNTERS = 7;

/** Counter order used by every counter array (matches Flow field numbers 6–12). */
export const COUNTER_NAMES = [
  "packetsIn",
  "packetsOut",
  "bytesIn",
  "bytesOut",
  "numConnectionsStarted",
  "numConnectionsCompleted",
  "numConnectionsLive",
] as const;

export const PACKETS_IN = 0;
export const PACKETS_OUT = 1;
export const BYTES_IN = 2;
export const BYTES_OUT = 3;
export const CONNS_STARTED = 4;
export const CONNS_COMPLETED = 5;
export const CONNS_LIVE = 6;

/** A validated flow as ingest hands it to the aggregator. */
export interface IngestFlow {
  readonly key: FlowKeyModel;
  readonly startSec: number;
  readonly endSec: number;
  readonly sourceLabels: readonly string[];
  readonly destLabels: readonly string[];
  /** The seven counters, in {@link COUNTER_NAMES} order; non-negative safe integers. */
  readonly counters: ArrayLike<number>;
  /** `Flow.source_ips` / `dest_ips` (upstream PR #13063), when the agent sent any. */
  readonly sourceIps?: readonly string[];
  readonly destIps?: readonly string[];
}

/** One aggregated result row, ready to be converted to a FlowResult. */
export interface FlowRow {
  readonly id: number;
  readonly key: FlowKeyModel;
  readonly startSec: number;
  readonly endSec: number;
  readonly sourceLabels: readonly string[];
  readonly destLabels: readonly string[];
  readonly counters: ArrayLike<number>;
  /** The key's IPs over the row's buckets (absent = none). */
  readonly sourceIps?: readonly string[];
  readonly destIps?: readonly string[];
}

// Goldmane enum values used by the core rules (goldmane/api.proto).
export const ENDPOINT_TYPE_NETWORK = 4;
export const REPORTER_SRC = 1;
export const REPORTER_DST = 2;
export const ACTION_ALLOW = 1;
export const ACTION_DENY = 2;
export const ACTION_PASS = 3;
export const KIND_PROFILE = 9;
export const KIND_END_OF_TIER = 10;
