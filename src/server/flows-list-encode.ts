import type { FlowKeyModel, FlowRow, PolicyHitModel } from "../model/flow.js";
import { WireWriter } from "../model/pre-encoded.js";
import type { PageMeta } from "../query/paging.js";

/**
 * A FlowListResult encoded straight from List's rows (field numbers of goldmane/api.proto): the
 * same bytes as `toBinary(FlowListResultSchema, …rowToProto…)`, which a unit test checks, with no
 * protobuf-es message and no bigint per row.
 */
export function encodeFlowListResult(meta: PageMeta, rows: readonly FlowRow[], into: EncodeInto = {}): Uint8Array {
  return encodeFlowList(meta, rows.length, (i) => rows[i]!, into);
}

/** Where an answer is encoded: after `prefixBytes` left for the caller's framing, into `buffer` if given. */
export interface EncodeInto {
  readonly prefixBytes?: number;
  /** A buffer to reuse (the result is a view of it, or of a larger one if it was too small). */
  readonly buffer?: Uint8Array;
}

/**
 * {@link encodeFlowListResult} for `count` rows handed over one at a time: `rowAt(i)` may return
 * the same scratch object every time (List's {@link listPage} does), so rows are encoded as they
 * are summed and never held. whisker-backend asks for every row (no page_size): at 100 000 keys
 * this is 100 000 results, ~40 MB. Nested messages are written in place ({@link WireWriter.begin});
 * short ASCII strings (nearly all: names, namespaces, labels, policies) are copied char by char,
 * others encoded once per call ({@link WireWriter.stringFast}). The first `into.prefixBytes` bytes
 * are left for the caller's framing (the gRPC lane writes its frame header there: no copy of
 * 40 MB), and `into.buffer` is written into when given (see answer-buffer.ts).
 */
export function encodeFlowList(meta: PageMeta, count: number, rowAt: (i: number) => FlowRow, into: EncodeInto = {}): Uint8Array {
  const w = new WireWriter(Math.min(1 << 20, Math.max(256, count * 512)), into.buffer);
  w.gap(into.prefixBytes ?? 0);
  const f = utf8Cache();
  w.begin(1).int64Field(1, meta.totalPages).int64Field(2, meta.totalResults).end();
  const SAMPLE = 256;
  for (let i = 0; i < count; i++) {
    // Size the buffer once, exactly, from the first rows: doubling would copy a 40 MB answer
    // several times, and every large allocation counts towards V8's external-memory GC trigger.
    if (i === SAMPLE) w.reserve(Math.ceil((w.length / SAMPLE) * (count - SAMPLE) * 1.05));
    const row = rowAt(i);
    w.begin(2).int64Field(1, row.id);
    w.begin(2);
    writeKey(w, row.key, f);
    w.int64Field(2, row.startSec).int64Field(3, row.endSec);
    for (const l of row.sourceLabels) w.stringFast(4, l, true, f);
    for (const l of row.destLabels) w.stringFast(5, l, true, f);
    const c = row.counters;
    for (let k = 0; k < 7; k++) w.int64Field(6 + k, c[k]!);
    // Flow IPs (fields 13, 14; DESIGN §6d): present only when agents sent some.
    const sourceIps = row.sourceIps;
    if (sourceIps) for (const ip of sourceIps) w.stringFast(13, ip, true, f);
    const destIps = row.destIps;
    if (destIps) for (const ip of destIps) w.stringFast(14, ip, true, f);
    w.end().end();
  }
  return w.finishView();
}

/** A per-call cache of strings' UTF-8 bytes (for the strings {@link WireWriter.stringFast} does not copy itself). */
function utf8Cache(): (s: string) => Uint8Array {
  const cache = new Map<string, Uint8Array>();
  return (s) => {
    let b = cache.get(s);
    if (b === undefined) {
      b = Buffer.from(s, "utf8");
      cache.set(s, b);
    }
    return b;
  };
}

type Utf8 = (s: string) => Uint8Array;

/** Flow.Key (field 1) of a row. */
function writeKey(w: WireWriter, k: FlowKeyModel, f: Utf8): void {
  w.begin(1)
    .stringFast(1, k.sourceName, false, f)
    .stringFast(2, k.sourceNamespace, false, f)
    .int64Field(3, k.sourceType)
    .stringFast(4, k.destName, false, f)
    .stringFast(5, k.destNamespace, false, f)
    .int64Field(6, k.destType)
    .int64Field(7, k.destPort)
    .stringFast(8, k.destServiceName, false, f)
    .stringFast(9, k.destServiceNamespace, false, f)
    .stringFast(10, k.destServicePortName, false, f)
    .int64Field(11, k.destServicePort)
    .stringFast(12, k.proto, false, f)
    .int64Field(13, k.reporter)
    .int64Field(14, k.action);
  // keyToProto sets policies only when the trace is not empty.
  if (k.enforced.length > 0 || k.pending.length > 0) {
    w.begin(15);
    for (const h of k.enforced) writeHit(w, 1, h, f);
    for (const h of k.pending) writeHit(w, 2, h, f);
    w.end();
  }
  w.end();
}

function writeHit(w: WireWriter, field: number, h: PolicyHitModel, f: Utf8): void {
  w.begin(field)
    .int64Field(1, h.kind)
    .stringFast(2, h.namespace, false, f)
    .stringFast(3, h.name, false, f)
    .stringFast(4, h.tier, false, f)
    .int64Field(5, h.action)
    .int64Field(6, h.policyIndex)
    .int64Field(7, h.ruleIndex);
  if (h.trigger) writeHit(w, 8, h.trigger, f);
  w.end();
}
