import type { FlowKeyModel, FlowRow, PolicyHitModel } from "../model/flow.js";
import { WireWriter } from "../model/pre-encoded.js";
import type { PageMeta } from "../query/paging.js";

/**
 * A FlowListResult encoded straight from List's rows (field numbers of goldmane/api.proto): the
 * same bytes as `toBinary(FlowListResultSchema, …rowToProto…)`, which a unit test checks, with no
 * protobuf-es message and no bigint per row. whisker-backend asks for every row (no page_size), so
 * at 100 000 keys this is 100 000 results: nested messages are written in place
 * ({@link WireWriter.begin}) and the bytes of the strings, which repeat across rows (names,
 * namespaces, labels, policies are interned), are encoded once per call.
 */
export function encodeFlowListResult(meta: PageMeta, rows: readonly FlowRow[]): Uint8Array {
  const w = new WireWriter(Math.min(1 << 20, Math.max(256, rows.length * 512)));
  const utf8 = utf8Cache();
  w.begin(1).int64Field(1, meta.totalPages).int64Field(2, meta.totalResults).end();
  const SAMPLE = 256;
  for (let i = 0; i < rows.length; i++) {
    // Size the buffer once from the first rows (a 100 000-row answer is ~100 MB; doubling would
    // copy it several times).
    if (i === SAMPLE) w.reserve(Math.ceil((w.length / SAMPLE) * (rows.length - SAMPLE) * 1.05));
    const row = rows[i]!;
    w.begin(2).int64Field(1, row.id);
    w.begin(2);
    writeKey(w, row.key, utf8);
    w.int64Field(2, row.startSec).int64Field(3, row.endSec);
    for (const l of row.sourceLabels) w.utf8Element(4, utf8(l));
    for (const l of row.destLabels) w.utf8Element(5, utf8(l));
    const c = row.counters;
    for (let i = 0; i < 7; i++) w.int64Field(6 + i, c[i]!);
    // Flow IPs (fields 13, 14; DESIGN §6d): present only when agents sent some.
    if (row.sourceIps) for (const ip of row.sourceIps) w.utf8Element(13, utf8(ip));
    if (row.destIps) for (const ip of row.destIps) w.utf8Element(14, utf8(ip));
    w.end().end();
  }
  return w.finishView();
}

/** A per-call cache of strings' UTF-8 bytes. */
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

/** Flow.Key (field 1) of a row. */
function writeKey(w: WireWriter, k: FlowKeyModel, utf8: (s: string) => Uint8Array): void {
  w.begin(1)
    .utf8Field(1, utf8(k.sourceName))
    .utf8Field(2, utf8(k.sourceNamespace))
    .int64Field(3, k.sourceType)
    .utf8Field(4, utf8(k.destName))
    .utf8Field(5, utf8(k.destNamespace))
    .int64Field(6, k.destType)
    .int64Field(7, k.destPort)
    .utf8Field(8, utf8(k.destServiceName))
    .utf8Field(9, utf8(k.destServiceNamespace))
    .utf8Field(10, utf8(k.destServicePortName))
    .int64Field(11, k.destServicePort)
    .utf8Field(12, utf8(k.proto))
    .int64Field(13, k.reporter)
    .int64Field(14, k.action);
  // keyToProto sets policies only when the trace is not empty.
  if (k.enforced.length > 0 || k.pending.length > 0) {
    w.begin(15);
    for (const h of k.enforced) writeHit(w, 1, h, utf8);
    for (const h of k.pending) writeHit(w, 2, h, utf8);
    w.end();
  }
  w.end();
}

function writeHit(w: WireWriter, field: number, h: PolicyHitModel, utf8: (s: string) => Uint8Array): void {
  w.begin(field)
    .int64Field(1, h.kind)
    .utf8Field(2, utf8(h.namespace))
    .utf8Field(3, utf8(h.name))
    .utf8Field(4, utf8(h.tier))
    .int64Field(5, h.action)
    .int64Field(6, h.policyIndex)
    .int64Field(7, h.ruleIndex);
  if (h.trigger) writeHit(w, 8, h.trigger, utf8);
  w.end();
}
