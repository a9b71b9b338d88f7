import { COUNTERS, KIND_END_OF_TIER, type FlowKeyModel, type IngestFlow, type PolicyHitModel } from "./flow.js";
import type { ConvertResult, MalformedReason } from "./convert.js";
import { sortHits } from "./flow-key.js";
import { DecodeError, WireReader } from "./wire-reader.js";

export { DecodeError } from "./wire-reader.js";

const TWO_32 = 4294967296;

/**
 * A decoder specialised for `goldmane.FlowUpdate` (DESIGN §5, the ingest fast lane): bytes go
 * straight to the internal {@link IngestFlow}, with no protobuf-es message objects, bigints or
 * reflection on the way. It must give exactly what `flowFromUpdate(fromBinary(FlowUpdateSchema,
 * bytes))` gives — the same values, the same malformed reasons — which the unit tests check on
 * generated and hand-made inputs. Proto3 rules it honours: last scalar wins, repeated fields
 * append, a message field that occurs twice is merged, unknown fields are skipped, absent fields
 * are defaults.
 */

class Malformed extends Error {
  constructor(readonly reason: MalformedReason) {
    super(reason);
  }
}

interface HitAcc {
  kind: number;
  namespace: string;
  name: string;
  tier: string;
  action: number;
  policyIndex: number;
  ruleIndex: number;
  policyIndexBad: boolean;
  ruleIndexBad: boolean;
  trigger: HitAcc | null;
}

function newHit(): HitAcc {
  return { kind: 0, namespace: "", name: "", tier: "", action: 0, policyIndex: 0, ruleIndex: 0, policyIndexBad: false, ruleIndexBad: false, trigger: null };
}

/** Flow fields as they accumulate while reading (int64 values already as numbers, or flagged). */
interface FlowAcc {
  hasFlow: boolean;
  hasKey: boolean;
  sourceName: string;
  sourceNamespace: string;
  sourceType: number;
  destName: string;
  destNamespace: string;
  destType: number;
  destPort: number;
  destServiceName: string;
  destServiceNamespace: string;
  destServicePortName: string;
  destServicePort: number;
  proto: string;
  reporter: number;
  action: number;
  enforced: HitAcc[];
  pending: HitAcc[];
  startSec: number;
  endSec: number;
  sourceLabels: string[];
  destLabels: string[];
  counters: number[];
  sourceIps: string[];
  destIps: string[];
}

function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new DecodeError(`${what}: wire type ${actual}, expected ${expected}`);
}

function readHit(r: WireReader, end: number, h: HitAcc, depth: number): void {
  if (depth > 64) throw new DecodeError("policy hit nesting too deep");
  while (r.pos < end) {
    r.varint64(end);
    const tag = r.lo;
    const no = tag >>> 3;
    const wt = tag & 7;
    switch (no) {
      case 1:
        expectWire(wt, 0, "PolicyHit.kind");
        h.kind = r.int32(end);
        break;
      case 2:
        expectWire(wt, 2, "PolicyHit.namespace");
        h.namespace = r.string(end);
        break;
      case 3:
        expectWire(wt, 2, "PolicyHit.name");
        h.name = r.string(end);
        break;
      case 4:
        expectWire(wt, 2, "PolicyHit.tier");
        h.tier = r.string(end);
        break;
      case 5:
        expectWire(wt, 0, "PolicyHit.action");
        h.action = r.int32(end);
        break;
      case 6: {
        expectWire(wt, 0, "PolicyHit.policy_index");
        const v = r.int64(end);
        h.policyIndexBad = v === null;
        h.policyIndex = v ?? 0;
        break;
      }
      case 7: {
        expectWire(wt, 0, "PolicyHit.rule_index");
        const v = r.int64(end);
        h.ruleIndexBad = v === null;
        h.ruleIndex = v ?? 0;
        break;
      }
      case 8: {
        expectWire(wt, 2, "PolicyHit.trigger");
        const stop = r.delimited(end);
        if (!h.trigger) h.trigger = newHit();
        readHit(r, stop, h.trigger, depth + 1);
        r.pos = stop;
        break;
      }
      default:
        r.skip(wt, no, end);
    }
  }
}

function readTrace(r: WireReader, end: number, f: FlowAcc): void {
  while (r.pos < end) {
    r.varint64(end);
    const tag = r.lo;
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 1 || no === 2) {
      expectWire(wt, 2, "PolicyTrace hits");
      const stop = r.delimited(end);
      const h = newHit();
      readHit(r, stop, h, 0);
      r.pos = stop;
      (no === 1 ? f.enforced : f.pending).push(h);
    } else {
      r.skip(wt, no, end);
    }
  }
}

function readKey(r: WireReader, end: number, f: FlowAcc): void {
  while (r.pos < end) {
    r.varint64(end);
    const tag = r.lo;
    const no = tag >>> 3;
    const wt = tag & 7;
    switch (no) {
      case 1:
        expectWire(wt, 2, "FlowKey.source_name");
        f.sourceName = r.string(end);
        break;
      case 2:
        expectWire(wt, 2, "FlowKey.source_namespace");
        f.sourceNamespace = r.string(end);
        break;
      case 3:
        expectWire(wt, 0, "FlowKey.source_type");
        f.sourceType = r.int32(end);
        break;
      case 4:
        expectWire(wt, 2, "FlowKey.dest_name");
        f.destName = r.string(end);
        break;
      case 5:
        expectWire(wt, 2, "FlowKey.dest_namespace");
        f.destNamespace = r.string(end);
        break;
      case 6:
        expectWire(wt, 0, "FlowKey.dest_type");
        f.destType = r.int32(end);
        break;
      case 7:
        expectWire(wt, 0, "FlowKey.dest_port");
        f.destPort = numberOr(r.int64(end), BAD_DEST_PORT);
        break;
      case 8:
        expectWire(wt, 2, "FlowKey.dest_service_name");
        f.destServiceName = r.string(end);
        break;
      case 9:
        expectWire(wt, 2, "FlowKey.dest_service_namespace");
        f.destServiceNamespace = r.string(end);
        break;
      case 10:
        expectWire(wt, 2, "FlowKey.dest_service_port_name");
        f.destServicePortName = r.string(end);
        break;
      case 11:
        expectWire(wt, 0, "FlowKey.dest_service_port");
        f.destServicePort = numberOr(r.int64(end), BAD_SERVICE_PORT);
        break;
      case 12:
        expectWire(wt, 2, "FlowKey.proto");
        f.proto = r.string(end);
        break;
      case 13:
        expectWire(wt, 0, "FlowKey.reporter");
        f.reporter = r.int32(end);
        break;
      case 14:
        expectWire(wt, 0, "FlowKey.action");
        f.action = r.int32(end);
        break;
      case 15: {
        expectWire(wt, 2, "FlowKey.policies");
        const stop = r.delimited(end);
        readTrace(r, stop, f);
        r.pos = stop;
        break;
      }
      default:
        r.skip(wt, no, end);
    }
  }
}

// Scratch flags (decoding is synchronous): which int64 key/time fields were unrepresentable.
const BAD_DEST_PORT = 0;
const BAD_SERVICE_PORT = 1;
const BAD_START = 2;
const BAD_END = 3;
const badFields = new Uint8Array(4);

function numberOr(v: number | null, slot: number): number {
  badFields[slot] = v === null ? 1 : 0;
  return v ?? 0;
}

/** Counter state per counter: 0 ok, 1 negative, 2 too large. */
const counterState = new Uint8Array(COUNTERS);

function readFlow(r: WireReader, end: number, f: FlowAcc): void {
  while (r.pos < end) {
    r.varint64(end);
    const tag = r.lo;
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 1) {
      expectWire(wt, 2, "Flow.Key");
      const stop = r.delimited(end);
      f.hasKey = true;
      readKey(r, stop, f);
      r.pos = stop;
    } else if (no === 2 || no === 3) {
      expectWire(wt, 0, no === 2 ? "Flow.start_time" : "Flow.end_time");
      const v = numberOr(r.int64(end), no === 2 ? BAD_START : BAD_END);
      if (no === 2) f.startSec = v;
      else f.endSec = v;
    } else if (no === 4 || no === 5) {
      expectWire(wt, 2, "Flow labels");
      (no === 4 ? f.sourceLabels : f.destLabels).push(r.string(end));
    } else if (no === 13 || no === 14) {
      expectWire(wt, 2, "Flow IPs");
      (no === 13 ? f.sourceIps : f.destIps).push(r.string(end));
    } else if (no >= 6 && no <= 12) {
      expectWire(wt, 0, "Flow counter");
      r.varint64(end);
      const i = no - 6;
      if (r.hi & 0x80000000) {
        counterState[i] = 1;
        f.counters[i] = 0;
      } else if (r.hi >= 0x200000) {
        counterState[i] = 2;
        f.counters[i] = 0;
      } else {
        counterState[i] = 0;
        f.counters[i] = r.hi * TWO_32 + r.lo;
      }
    } else {
      r.skip(wt, no, end);
    }
  }
}

function toHit(h: HitAcc, depth: number): PolicyHitModel {
  if (depth === 0 && h.kind === KIND_END_OF_TIER && !h.trigger) throw new Malformed("end_of_tier_without_trigger");
  if (depth > 8) throw new Malformed("trace_too_deep");
  if (h.policyIndexBad || h.ruleIndexBad) throw new Malformed("invalid_number");
  return {
    kind: h.kind,
    namespace: h.namespace,
    name: h.name,
    tier: h.tier,
    action: h.action,
    policyIndex: h.policyIndex,
    ruleIndex: h.ruleIndex,
    trigger: h.trigger ? toHit(h.trigger, depth + 1) : null,
  };
}

/**
 * Decodes one FlowUpdate message (`bytes[start, end)`) into a validated flow or a malformed
 * reason, exactly as `flowFromUpdate` would. Throws {@link DecodeError} for invalid encodings.
 */
export function decodeFlowUpdate(bytes: Uint8Array, start = 0, end = bytes.length): ConvertResult {
  const r = new WireReader().reset(bytes, start);
  const f: FlowAcc = {
    hasFlow: false,
    hasKey: false,
    sourceName: "",
    sourceNamespace: "",
    sourceType: 0,
    destName: "",
    destNamespace: "",
    destType: 0,
    destPort: 0,
    destServiceName: "",
    destServiceNamespace: "",
    destServicePortName: "",
    destServicePort: 0,
    proto: "",
    reporter: 0,
    action: 0,
    enforced: [],
    pending: [],
    startSec: 0,
    endSec: 0,
    sourceLabels: [],
    destLabels: [],
    counters: [0, 0, 0, 0, 0, 0, 0],
    sourceIps: [],
    destIps: [],
  };
  badFields.fill(0);
  counterState.fill(0);
  while (r.pos < end) {
    r.varint64(end);
    const tag = r.lo;
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) throw new DecodeError("field number 0");
    if (no === 1) {
      expectWire(wt, 2, "FlowUpdate.flow");
      const stop = r.delimited(end);
      f.hasFlow = true;
      readFlow(r, stop, f);
      r.pos = stop;
    } else {
      r.skip(wt, no, end);
    }
  }
  if (!f.hasFlow) return { ok: false, reason: "missing_flow" };
  if (!f.hasKey) return { ok: false, reason: "missing_key" };
  // Report problems in the order flowFromProto meets them: hits, key numbers, counters, times.
  try {
    const enforced = sortHits(f.enforced.map((h) => toHit(h, 0)));
    const pending = sortHits(f.pending.map((h) => toHit(h, 0)));
    if (badFields[BAD_DEST_PORT] || badFields[BAD_SERVICE_PORT]) throw new Malformed("invalid_number");
    for (let i = 0; i < COUNTERS; i++) {
      if (counterState[i] === 1) throw new Malformed("negative_counter");
      if (counterState[i] === 2) throw new Malformed("counter_too_large");
    }
    if (badFields[BAD_START] || badFields[BAD_END]) throw new Malformed("invalid_number");
    const key: FlowKeyModel = {
      sourceName: f.sourceName,
      sourceNamespace: f.sourceNamespace,
      sourceType: f.sourceType,
      destName: f.destName,
      destNamespace: f.destNamespace,
      destType: f.destType,
      destPort: f.destPort,
      destServiceName: f.destServiceName,
      destServiceNamespace: f.destServiceNamespace,
      destServicePortName: f.destServicePortName,
      destServicePort: f.destServicePort,
      proto: f.proto,
      reporter: f.reporter,
      action: f.action,
      enforced,
      pending,
    };
    const flow: IngestFlow = {
      key,
      startSec: f.startSec,
      endSec: f.endSec,
      sourceLabels: f.sourceLabels,
      destLabels: f.destLabels,
      counters: f.counters,
      ...(f.sourceIps.length > 0 || f.destIps.length > 0 ? { sourceIps: f.sourceIps, destIps: f.destIps } : {}),
    };
    return { ok: true, flow };
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, reason: e.reason };
    throw e;
  }
}
