import {
  Action,
  PolicyKind,
  Reporter,
  RuleDirection,
  StatisticsGroupBy,
  type FilterHint,
  type FlowResult,
  type StatisticsResult,
} from "../gen/goldmane/api_pb.js";

/** A table printed with columns padded to their widest cell (numbers right-aligned). */
export function formatTable(header: string[], rows: string[][], numeric: Set<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

const name = (e: Record<number, string>, v: number, unspecified: number) => (v === unspecified ? "-" : (e[v] ?? String(v)));
const time = (sec: bigint) => (sec === 0n ? "-" : new Date(Number(sec) * 1000).toISOString().replace("T", " ").slice(0, 19));
const dash = (s: string) => (s === "" ? "-" : s);

export const FLOW_HEADER = ["START", "END", "SRC_NS", "SRC", "DST_NS", "DST", "PORT", "PROTO", "ACTION", "REPORTER", "PKTS_IN", "PKTS_OUT", "BYTES_IN", "BYTES_OUT", "POLICIES"];
export const FLOW_NUMERIC = new Set([6, 10, 11, 12, 13]);

/** One flow as a table row; the policy column lists the enforced hits as tier|name:action. */
export function flowRow(r: FlowResult): string[] {
  const f = r.flow;
  const k = f?.Key;
  if (!f || !k) return [String(r.id), ...FLOW_HEADER.slice(1).map(() => "?")];
  const policies = (k.policies?.enforcedPolicies ?? [])
    .map((p) => `${p.tier === "" ? "" : `${p.tier}|`}${p.namespace === "" ? "" : `${p.namespace}/`}${p.name}:${name(Action, p.action, Action.ActionUnspecified)}`)
    .join(",");
  return [
    time(f.startTime),
    time(f.endTime),
    dash(k.sourceNamespace),
    dash(k.sourceName),
    dash(k.destNamespace),
    dash(k.destName),
    String(k.destPort),
    dash(k.proto),
    name(Action, k.action, Action.ActionUnspecified),
    name(Reporter, k.reporter, Reporter.ReporterUnspecified),
    String(f.packetsIn),
    String(f.packetsOut),
    String(f.bytesIn),
    String(f.bytesOut),
    dash(policies),
  ];
}

/** The hint values, one per line under a VALUE header ("" shown as -, as Goldmane's "Global"). */
export function hintRows(hints: FilterHint[]): string[][] {
  return hints.map((h) => [h.value === "" ? "-" : h.value]);
}

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

/** Statistics as rows: one per result, or one per (result, time point) with --time-series. */
export function statsTable(results: StatisticsResult[], timeSeries: boolean): string {
  const header = [...(timeSeries ? ["TIME"] : []), "KIND", "TIER", "NAMESPACE", "POLICY", "RULE", "ACTION", "DIRECTION", "ALLOWED_IN", "ALLOWED_OUT", "DENIED_IN", "DENIED_OUT", "PASSED_IN", "PASSED_OUT"];
  const rows: string[][] = [];
  for (const r of results) {
    const p = r.policy;
    const rule = r.groupBy === StatisticsGroupBy.PolicyRule;
    const who = [
      name(PolicyKind, p?.kind ?? 0, PolicyKind.KindUnspecified),
      dash(p?.tier ?? ""),
      dash(p?.namespace ?? ""),
      dash(p?.name ?? ""),
      rule ? String(p?.ruleIndex ?? "") : "-",
      rule ? name(Action, p?.action ?? 0, Action.ActionUnspecified) : "-",
      rule ? name(RuleDirection, r.direction, -1) : "-",
    ];
    const series = [r.allowedIn, r.allowedOut, r.deniedIn, r.deniedOut, r.passedIn, r.passedOut];
    if (timeSeries) {
      r.x.forEach((x, i) => rows.push([time(x), ...who, ...series.map((s) => String(s[i] ?? 0n))]));
    } else {
      rows.push([...who, ...series.map((s) => String(sum(s)))]);
    }
  }
  const first = timeSeries ? 8 : 7;
  return formatTable(header, rows, new Set([first, first + 1, first + 2, first + 3, first + 4, first + 5]));
}

