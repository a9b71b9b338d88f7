import type { FlowRow, PolicyHitModel } from "../model/flow.js";

/**
 * One emitted flow as Goldmane's emitter writes it (goldmane/pkg/emitter `collectionToReader`):
 * Go's `encoding/json` of the generated `*proto.Flow` struct — not protojson. So:
 * - field names are the struct tags: `Key` (capital K), then the proto names in snake case;
 * - fields in struct order; `omitempty` drops 0, "" and empty lists, but `Key` and
 *   `Key.policies` are pointers to structs and always present (`"policies":{}` with no hits);
 * - enums are numbers (generated enum types are int32 without MarshalJSON), int64s are numbers;
 * - strings are escaped as Go does by default: `<`, `>`, `&`, U+2028 and U+2029 as `\u00XX`;
 * - `source_ips` / `dest_ips` (upstream PR #13063, fields 13/14) last, left out when empty.
 * Lines are joined with "\n" without a trailing one, as upstream writes them.
 */
export function flowToGoJson(row: FlowRow): string {
  const k = row.key;
  let key = "";
  key = str(key, "source_name", k.sourceName);
  key = str(key, "source_namespace", k.sourceNamespace);
  key = num(key, "source_type", k.sourceType);
  key = str(key, "dest_name", k.destName);
  key = str(key, "dest_namespace", k.destNamespace);
  key = num(key, "dest_type", k.destType);
  key = num(key, "dest_port", k.destPort);
  key = str(key, "dest_service_name", k.destServiceName);
  key = str(key, "dest_service_namespace", k.destServiceNamespace);
  key = str(key, "dest_service_port_name", k.destServicePortName);
  key = num(key, "dest_service_port", k.destServicePort);
  key = str(key, "proto", k.proto);
  key = num(key, "reporter", k.reporter);
  key = num(key, "action", k.action);
  let trace = "";
  trace = hits(trace, "enforced_policies", k.enforced);
  trace = hits(trace, "pending_policies", k.pending);
  key = field(key, "policies", `{${trace}}`);
  let out = field("", "Key", `{${key}}`);
  out = num(out, "start_time", row.startSec);
  out = num(out, "end_time", row.endSec);
  out = strings(out, "source_labels", row.sourceLabels);
  out = strings(out, "dest_labels", row.destLabels);
  const c = row.counters;
  out = num(out, "packets_in", c[0]!);
  out = num(out, "packets_out", c[1]!);
  out = num(out, "bytes_in", c[2]!);
  out = num(out, "bytes_out", c[3]!);
  out = num(out, "num_connections_started", c[4]!);
  out = num(out, "num_connections_completed", c[5]!);
  out = num(out, "num_connections_live", c[6]!);
  // Fields 13 and 14 of upstream PR #13063 (`repeated string source_ips/dest_ips`, omitempty).
  out = strings(out, "source_ips", row.sourceIps ?? []);
  out = strings(out, "dest_ips", row.destIps ?? []);
  return `{${out}}`;
}

/** The ndjson body of one batch: one {@link flowToGoJson} line per flow, "\n"-separated. */
export function batchBody(rows: readonly FlowRow[]): Buffer {
  return Buffer.from(rows.map(flowToGoJson).join("\n"), "utf8");
}

function hitJson(h: PolicyHitModel): string {
  let o = "";
  o = num(o, "kind", h.kind);
  o = str(o, "namespace", h.namespace);
  o = str(o, "name", h.name);
  o = str(o, "tier", h.tier);
  o = num(o, "action", h.action);
  o = num(o, "policy_index", h.policyIndex);
  o = num(o, "rule_index", h.ruleIndex);
  if (h.trigger !== null) o = field(o, "trigger", hitJson(h.trigger));
  return `{${o}}`;
}

function field(acc: string, name: string, json: string): string {
  return `${acc === "" ? "" : `${acc},`}"${name}":${json}`;
}

function num(acc: string, name: string, v: number): string {
  return v === 0 ? acc : field(acc, name, String(v));
}

function str(acc: string, name: string, v: string): string {
  return v === "" ? acc : field(acc, name, goString(v));
}

function strings(acc: string, name: string, v: readonly string[]): string {
  return v.length === 0 ? acc : field(acc, name, `[${v.map(goString).join(",")}]`);
}

function hits(acc: string, name: string, v: readonly PolicyHitModel[]): string {
  return v.length === 0 ? acc : field(acc, name, `[${v.map(hitJson).join(",")}]`);
}

const GO_HTML_ESCAPES: Record<string, string> = { "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029" };

/**
 * A JSON string as Go's encoder writes it: JSON.stringify already matches Go for quotes,
 * backslashes and control characters (`\b \f \n \r \t`, else `\u00xx` in lower-case hex, as Go
 * 1.22+); Go additionally escapes HTML-significant characters and the two JavaScript line
 * terminators. (Lone surrogates, which the two would write differently, cannot occur: every
 * string was decoded from UTF-8.)
 */
export function goString(s: string): string {
  const j = JSON.stringify(s);
  return /[<>&\u2028\u2029]/.test(j) ? j.replace(/[<>&\u2028\u2029]/g, (c) => GO_HTML_ESCAPES[c]!) : j;
}
