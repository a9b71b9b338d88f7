import { describe, expect, it } from "vitest";
import { flowToGoJson, goString } from "../../../src/emitter/flow-json.js";
import type { FlowRow } from "../../../src/model/flow.js";
import { counterArray, flowKey, policyHit } from "../../helpers/flow-fixtures.js";

/** What Go's json.Marshal writes for these strings (encodeState.string with escapeHTML). */
describe("goString", () => {
  it.each([
    ["plain", '"plain"'],
    ['q"b\\', '"q\\"b\\\\"'],
    ["<a href='x'>&amp;</a>", `"\\u003ca href='x'\\u003e\\u0026amp;\\u003c/a\\u003e"`],
    ["\n\r\t\b\f", '"\\n\\r\\t\\b\\f"'],
    ["\u0001\u001f\u007f", '"\\u0001\\u001f\u007f"'],
    ["line\u2028para\u2029", '"line\\u2028para\\u2029"'],
    ["ünï 🐝", '"ünï 🐝"'],
  ])("%j", (s, go) => {
    expect(goString(s)).toBe(go);
  });
});

describe("flowToGoJson", () => {
  const row = (o: Partial<FlowRow> = {}): FlowRow => ({
    id: 1,
    key: flowKey(),
    startSec: 100,
    endSec: 115,
    sourceLabels: [],
    destLabels: [],
    counters: counterArray({ packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, numConnectionsStarted: 0, numConnectionsCompleted: 0, numConnectionsLive: 0 }),
    ...o,
  });

  it("omits zero values but keeps Key and Key.policies (pointers), enums as numbers", () => {
    const k = flowKey({ sourceName: "", sourceNamespace: "", sourceType: 0, destName: "", destNamespace: "", destType: 0, destPort: 0, proto: "", reporter: 0, action: 0, enforced: [], pending: [] });
    expect(flowToGoJson(row({ key: k, startSec: 0, endSec: 0 }))).toBe('{"Key":{"policies":{}}}');
  });

  it("writes EndOfTier triggers nested, pending hits, and PolicyKind values our proto reserves as they came", () => {
    const trigger = policyHit({ kind: 7, namespace: "", name: "anp", tier: "adminnetworkpolicy", action: 0, policyIndex: 0, ruleIndex: 0, trigger: null });
    const eot = policyHit({ kind: 10, namespace: "", name: "", tier: "adminnetworkpolicy", action: 2, policyIndex: 1, ruleIndex: -1, trigger });
    const pending = policyHit({ kind: 8, namespace: "", name: "banp", tier: "baselineadminnetworkpolicy", action: 1, policyIndex: 0, ruleIndex: 3, trigger: null });
    const json = flowToGoJson(row({ key: flowKey({ enforced: [eot], pending: [pending] }) }));
    const parsed = JSON.parse(json) as { Key: { policies: unknown } };
    expect(parsed.Key.policies).toEqual({
      enforced_policies: [{ kind: 10, tier: "adminnetworkpolicy", action: 2, policy_index: 1, rule_index: -1, trigger: { kind: 7, name: "anp", tier: "adminnetworkpolicy" } }],
      pending_policies: [{ kind: 8, name: "banp", tier: "baselineadminnetworkpolicy", action: 1, rule_index: 3 }],
    });
    // Struct order: pending after enforced, trigger last in a hit.
    expect(json.indexOf('"enforced_policies"')).toBeLessThan(json.indexOf('"pending_policies"'));
    expect(json).toContain('"rule_index":-1,"trigger":{"kind":7,');
  });

  it("writes Flow IPs (PR #13063) after the counters, omitted when empty", () => {
    const json = flowToGoJson(row({ counters: counterArray({ numConnectionsLive: 3 }), sourceIps: ["10.0.0.1", "fd00::1"], destIps: ["10.0.0.2"] }));
    expect(json.endsWith(`"num_connections_live":3,"source_ips":["10.0.0.1","fd00::1"],"dest_ips":["10.0.0.2"]}`)).toBe(true);
    expect(flowToGoJson(row({ sourceIps: [], destIps: ["10.0.0.2"] }))).toMatch(/[^s]"dest_ips":\["10\.0\.0\.2"\]\}$/);
    expect(flowToGoJson(row({ sourceIps: [], destIps: [] }))).not.toMatch(/_ips/);
  });

  it("keeps the field order of the Go struct", () => {
    const json = flowToGoJson(row({ sourceLabels: ["a=1"], destLabels: ["b=2"], counters: counterArray({ packetsIn: 1, packetsOut: 2, bytesIn: 3, bytesOut: 4, numConnectionsStarted: 5, numConnectionsCompleted: 6, numConnectionsLive: 7 }) }));
    const names = [...json.matchAll(/"([a-zA-Z_]+)":/g)].map((m) => m[1]);
    const top = names.filter((n) => ["Key", "start_time", "end_time", "source_labels", "dest_labels", "packets_in", "packets_out", "bytes_in", "bytes_out", "num_connections_started", "num_connections_completed", "num_connections_live"].includes(n!));
    expect(top).toEqual(["Key", "start_time", "end_time", "source_labels", "dest_labels", "packets_in", "packets_out", "bytes_in", "bytes_out", "num_connections_started", "num_connections_completed", "num_connections_live"]);
  });
});
