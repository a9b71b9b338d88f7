import { create } from "@bufbuild/protobuf";
import {
  FlowResultSchema,
  FlowSchema,
  FlowKeySchema,
  PolicyHitSchema,
  PolicyTraceSchema,
  type Flow,
  type FlowResult,
  type FlowUpdate,
  type PolicyHit,
} from "../gen/goldmane/api_pb.js";
import { COUNTERS, KIND_END_OF_TIER, type FlowKeyModel, type FlowRow, type IngestFlow, type PolicyHitModel } from "./flow.js";
import { sortHits } from "./flow-key.js";

/** Why an incoming FlowUpdate was not stored (the `reason` label of the rejection metric). */
export type MalformedReason =
  | "missing_flow"
  | "missing_key"
  | "end_of_tier_without_trigger"
  | "negative_counter"
  | "counter_too_large"
  | "invalid_number"
  | "trace_too_deep";

/** Result of converting a FlowUpdate: a flow to ingest, or the reason it is malformed. */
export type ConvertResult = { ok: true; flow: IngestFlow } | { ok: false; reason: MalformedReason };

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = -MAX;

class Malformed extends Error {
  constructor(readonly reason: MalformedReason) {
    super(reason);
  }
}

/** int64 → number at the edge (DESIGN §5); values beyond 2^53 would lose precision, so reject. */
function num(v: bigint): number {
  if (v > MAX || v < MIN) throw new Malformed("invalid_number");
  return Number(v);
}

function counter(v: bigint): number {
  if (v < 0n) throw new Malformed("negative_counter");
  if (v > MAX) throw new Malformed("counter_too_large");
  return Number(v);
}

/** Triggers may nest in the protobuf schema; nothing real nests deeper than one level. */
const MAX_TRIGGER_DEPTH = 8;

function hitFromProto(h: PolicyHit, depth: number): PolicyHitModel {
  // Goldmane dereferences the trigger of every EndOfTier hit (goldmane-spec §2.4): a missing one
  // crashes it, so such a flow is malformed here.
  if (depth === 0 && h.kind === KIND_END_OF_TIER && !h.trigger) throw new Malformed("end_of_tier_without_trigger");
  if (depth > MAX_TRIGGER_DEPTH) throw new Malformed("trace_too_deep");
  return {
    kind: h.kind,
    namespace: h.namespace,
    name: h.name,
    tier: h.tier,
    action: h.action,
    policyIndex: num(h.policyIndex),
    ruleIndex: num(h.ruleIndex),
    // Carried through untouched (spec §3.4), so output round-trips.
    trigger: h.trigger ? hitFromProto(h.trigger, depth + 1) : null,
  };
}

/**
 * Validates a FlowUpdate and converts it to the internal shape (goldmane-spec §2.4, DESIGN §4):
 * no flow, no key, an EndOfTier hit without trigger, negative or unrepresentable numbers are
 * malformed. Hits are canonically ordered.
 */
export function flowFromUpdate(update: FlowUpdate): ConvertResult {
  const f = update.flow;
  if (!f) return { ok: false, reason: "missing_flow" };
  return flowFromProto(f);
}

/** Like {@link flowFromUpdate} for a bare Flow message. */
export function flowFromProto(f: Flow): ConvertResult {
  const k = f.Key;
  if (!k) return { ok: false, reason: "missing_key" };
  try {
    const enforced = sortHits((k.policies?.enforcedPolicies ?? []).map((h) => hitFromProto(h, 0)));
    const pending = sortHits((k.policies?.pendingPolicies ?? []).map((h) => hitFromProto(h, 0)));
    const key: FlowKeyModel = {
      sourceName: k.sourceName,
      sourceNamespace: k.sourceNamespace,
      sourceType: k.sourceType,
      destName: k.destName,
      destNamespace: k.destNamespace,
      destType: k.destType,
      destPort: num(k.destPort),
      destServiceName: k.destServiceName,
      destServiceNamespace: k.destServiceNamespace,
      destServicePortName: k.destServicePortName,
      destServicePort: num(k.destServicePort),
      proto: k.proto,
      reporter: k.reporter,
      action: k.action,
      enforced,
      pending,
    };
    const counters = [
      counter(f.packetsIn),
      counter(f.packetsOut),
      counter(f.bytesIn),
      counter(f.bytesOut),
      counter(f.numConnectionsStarted),
      counter(f.numConnectionsCompleted),
      counter(f.numConnectionsLive),
    ];
    return {
      ok: true,
      flow: {
        key,
        startSec: num(f.startTime),
        endSec: num(f.endTime),
        sourceLabels: f.sourceLabels,
        destLabels: f.destLabels,
        counters,
        ...(f.sourceIps.length > 0 || f.destIps.length > 0 ? { sourceIps: f.sourceIps, destIps: f.destIps } : {}),
      },
    };
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, reason: e.reason };
    throw e;
  }
}

function hitToProto(h: PolicyHitModel): PolicyHit {
  return create(PolicyHitSchema, {
    kind: h.kind,
    namespace: h.namespace,
    name: h.name,
    tier: h.tier,
    action: h.action,
    policyIndex: BigInt(h.policyIndex),
    ruleIndex: BigInt(h.ruleIndex),
    trigger: h.trigger ? hitToProto(h.trigger) : undefined,
  });
}

/** Converts a key back to its protobuf form (policy hits in canonical order, spec §3.4). */
export function keyToProto(k: FlowKeyModel) {
  const hasTrace = k.enforced.length > 0 || k.pending.length > 0;
  return create(FlowKeySchema, {
    sourceName: k.sourceName,
    sourceNamespace: k.sourceNamespace,
    sourceType: k.sourceType,
    destName: k.destName,
    destNamespace: k.destNamespace,
    destType: k.destType,
    destPort: BigInt(k.destPort),
    destServiceName: k.destServiceName,
    destServiceNamespace: k.destServiceNamespace,
    destServicePortName: k.destServicePortName,
    destServicePort: BigInt(k.destServicePort),
    proto: k.proto,
    reporter: k.reporter,
    action: k.action,
    policies: hasTrace
      ? create(PolicyTraceSchema, { enforcedPolicies: k.enforced.map(hitToProto), pendingPolicies: k.pending.map(hitToProto) })
      : undefined,
  });
}

/** Converts an aggregated row to a FlowResult. */
export function rowToProto(row: FlowRow, keyProto = keyToProto(row.key)): FlowResult {
  const c = row.counters;
  if (c.length !== COUNTERS) throw new Error("row counters must have 7 entries");
  return create(FlowResultSchema, {
    id: BigInt(row.id),
    flow: create(FlowSchema, {
      Key: keyProto,
      startTime: BigInt(row.startSec),
      endTime: BigInt(row.endSec),
      sourceLabels: row.sourceLabels as string[],
      destLabels: row.destLabels as string[],
      packetsIn: BigInt(c[0]!),
      packetsOut: BigInt(c[1]!),
      bytesIn: BigInt(c[2]!),
      bytesOut: BigInt(c[3]!),
      numConnectionsStarted: BigInt(c[4]!),
      numConnectionsCompleted: BigInt(c[5]!),
      numConnectionsLive: BigInt(c[6]!),
      sourceIps: (row.sourceIps ?? []) as string[],
      destIps: (row.destIps ?? []) as string[],
    }),
  });
}
