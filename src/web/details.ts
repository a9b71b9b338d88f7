import type { FlowResult, PolicyHit } from "../gen/goldmane/api_pb.js";
import { h } from "./dom.js";
import { actionName, displayName, displayNamespace, endpointTypeName, formatCount, formatTime, policyKindName, reporterName } from "./format.js";

function labels(list: string[]): HTMLElement {
  if (list.length === 0) return h("span", { class: "muted" }, "none");
  return h("div", { class: "labels" }, ...list.map((l) => h("span", { class: "label" }, l)));
}

/** Flow IPs (upstream PR #13063): shown only when the agents sent some. */
function ips(list: string[], testid: string): HTMLElement {
  if (list.length === 0) return h("span", { class: "muted", "data-testid": testid }, "not reported");
  return h("div", { class: "labels", "data-testid": testid }, ...list.map((ip) => h("span", { class: "label" }, ip)));
}

function dl(rows: [string, string | Node][]): HTMLElement {
  return h("dl", {}, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** The rows of a policy trace, a trigger (EndOfTier) shown indented below its hit. */
function traceRows(hits: PolicyHit[], depth = 0): HTMLElement[] {
  return hits.flatMap((p) => [
    h("tr", { "data-testid": "trace-row" },
      h("td", {}, depth > 0 ? "↳ trigger" : String(p.policyIndex)),
      h("td", {}, policyKindName(p.kind)),
      h("td", {}, p.tier),
      h("td", {}, p.namespace === "" ? "-" : p.namespace),
      h("td", {}, p.name),
      h("td", { class: `action-${actionName(p.action)}` }, actionName(p.action)),
      h("td", {}, String(p.ruleIndex)),
    ),
    ...(p.trigger ? traceRows([p.trigger], depth + 1) : []),
  ]);
}

function trace(title: string, hits: PolicyHit[]): HTMLElement[] {
  if (hits.length === 0) return [h("h3", {}, title), h("p", { class: "muted" }, "none")];
  return [
    h("h3", {}, title),
    h("table", { class: "trace" },
      h("thead", {}, h("tr", {}, ...["#", "Kind", "Tier", "Namespace", "Name", "Action", "Rule"].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...traceRows(hits)),
    ),
  ];
}

/** Renders the details of one flow: key, labels, counters and the policy trace. */
export function renderDetails(panel: HTMLElement, r: FlowResult, onClose: () => void): void {
  const f = r.flow!;
  const key = f.Key!;
  panel.replaceChildren(
    h("h2", {}, `Flow ${r.id}`, h("button", { type: "button", "aria-label": "Close details", onclick: onClose }, "×")),
    dl([
      ["Time", `${formatTime(f.startTime)} → ${formatTime(f.endTime)}`],
      ["Source", `${displayNamespace(key.sourceNamespace)} / ${displayName(key.sourceName)} (${endpointTypeName(key.sourceType)})`],
      ["Destination", `${displayNamespace(key.destNamespace)} / ${displayName(key.destName)} (${endpointTypeName(key.destType)})`],
      ["Port", `${key.proto} ${key.destPort}`],
      ["Service", key.destServiceName === "" ? "-" : `${key.destServiceNamespace}/${key.destServiceName}:${key.destServicePortName || key.destServicePort}`],
      ["Action", actionName(key.action)],
      ["Reporter", reporterName(key.reporter)],
      ["Packets", `${formatCount(f.packetsIn)} in / ${formatCount(f.packetsOut)} out`],
      ["Bytes", `${formatCount(f.bytesIn)} in / ${formatCount(f.bytesOut)} out`],
      ["Connections", `${f.numConnectionsStarted} started, ${f.numConnectionsCompleted} completed, ${f.numConnectionsLive} live`],
    ]),
    h("h3", {}, "Source labels"),
    labels(f.sourceLabels),
    h("h3", {}, "Destination labels"),
    labels(f.destLabels),
    h("h3", {}, "Source IPs"),
    ips(f.sourceIps, "source-ips"),
    h("h3", {}, "Destination IPs"),
    ips(f.destIps, "dest-ips"),
    ...trace("Enforced policies", key.policies?.enforcedPolicies ?? []),
    ...trace("Pending policies", key.policies?.pendingPolicies ?? []),
  );
  panel.hidden = false;
}
