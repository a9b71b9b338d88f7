import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Action, FilterSchema, MatchType, PolicyKind, Reporter } from "../../../src/gen/goldmane/api_pb.js";
import type { FlowKeyModel } from "../../../src/model/flow.js";
import { MATCH_ALL, compileFilter, policyHitMatches, type FilterSpec, type PolicyMatchSpec, type StringMatchSpec } from "../../../src/query/filter.js";
import { filterSpec } from "../../../src/server/parse-request.js";
import { flowKey, policyHit } from "../../helpers/flow-fixtures.js";

const exact = (value: string): StringMatchSpec => ({ value, fuzzy: false });
const fuzzy = (value: string): StringMatchSpec => ({ value, fuzzy: true });
const spec = (o: Partial<FilterSpec>): FilterSpec => ({ ...MATCH_ALL, ...o });
const pm = (o: Partial<PolicyMatchSpec>): PolicyMatchSpec => ({ kind: 0, tier: exact(""), namespace: exact(""), name: exact(""), action: 0, ...o });
const matches = (f: Partial<FilterSpec>, k: Partial<FlowKeyModel> = {}) => compileFilter(spec(f))(flowKey(k));

describe("compileFilter: empty filter", () => {
  it("matches everything", () => {
    expect(compileFilter(MATCH_ALL)(flowKey())).toBe(true);
    expect(compileFilter(MATCH_ALL)(flowKey({ sourceName: "", enforced: [], action: 0, reporter: 0 }))).toBe(true);
  });
});

describe("compileFilter: names", () => {
  it("Exact is byte equality; Fuzzy is a case-sensitive substring", () => {
    expect(matches({ sourceNames: [exact("client-*")] })).toBe(true);
    expect(matches({ sourceNames: [exact("client")] })).toBe(false);
    expect(matches({ sourceNames: [exact("Client-*")] })).toBe(false);
    expect(matches({ sourceNames: [fuzzy("ient")] })).toBe(true);
    expect(matches({ sourceNames: [fuzzy("IENT")] })).toBe(false);
    expect(matches({ destNames: [exact("server-*")] })).toBe(true);
    expect(matches({ destNames: [fuzzy("erv")] })).toBe(true);
    expect(matches({ destNames: [exact("client-*")] })).toBe(false);
  });

  it("an empty Fuzzy value matches everything; an empty Exact value only the empty name", () => {
    expect(matches({ sourceNames: [fuzzy("")] })).toBe(true);
    expect(matches({ sourceNames: [exact("")] })).toBe(false);
    expect(matches({ sourceNames: [exact("")] }, { sourceName: "" })).toBe(true);
  });

  it("entries of one field combine with OR", () => {
    expect(matches({ sourceNames: [exact("nope"), exact("client-*")] })).toBe(true);
    expect(matches({ sourceNames: [exact("nope"), fuzzy("zzz")] })).toBe(false);
  });

  it("stored pub / pvt also answer to PUBLIC NETWORK / PRIVATE NETWORK, fuzzy included", () => {
    for (const field of ["sourceNames", "destNames"] as const) {
      const name = field === "sourceNames" ? "sourceName" : "destName";
      expect(matches({ [field]: [exact("PUBLIC NETWORK")] }, { [name]: "pub" })).toBe(true);
      expect(matches({ [field]: [exact("pub")] }, { [name]: "pub" })).toBe(true);
      expect(matches({ [field]: [exact("PRIVATE NETWORK")] }, { [name]: "pvt" })).toBe(true);
      expect(matches({ [field]: [exact("PRIVATE NETWORK")] }, { [name]: "pub" })).toBe(false);
      expect(matches({ [field]: [exact("PUBLIC NETWORK")] }, { [name]: "pvt" })).toBe(false);
      expect(matches({ [field]: [fuzzy("PUB")] }, { [name]: "pub" })).toBe(true);
      expect(matches({ [field]: [fuzzy("NETWORK")] }, { [name]: "pvt" })).toBe(true);
      expect(matches({ [field]: [fuzzy("network")] }, { [name]: "pvt" })).toBe(false);
      // The alias is one-way: a stored "PUBLIC NETWORK" is just a name.
      expect(matches({ [field]: [exact("pub")] }, { [name]: "PUBLIC NETWORK" })).toBe(false);
      // Only the exact stored names have aliases.
      expect(matches({ [field]: [exact("PUBLIC NETWORK")] }, { [name]: "pub2" })).toBe(false);
    }
  });
});

describe("compileFilter: namespaces", () => {
  it("match Exact and Fuzzy on each side", () => {
    expect(matches({ sourceNamespaces: [exact("default")] })).toBe(true);
    expect(matches({ sourceNamespaces: [exact("kube-system")] })).toBe(false);
    expect(matches({ destNamespaces: [fuzzy("faul")] })).toBe(true);
    expect(matches({ destNamespaces: [fuzzy("Faul")] })).toBe(false);
    expect(matches({ sourceNamespaces: [exact("a")] }, { sourceNamespace: "a", destNamespace: "b" })).toBe(true);
    expect(matches({ destNamespaces: [exact("a")] }, { sourceNamespace: "a", destNamespace: "b" })).toBe(false);
  });

  it("a stored Global also answers to '-'; there is no alias for '' or '-'", () => {
    for (const field of ["sourceNamespaces", "destNamespaces"] as const) {
      const ns = field === "sourceNamespaces" ? "sourceNamespace" : "destNamespace";
      expect(matches({ [field]: [exact("-")] }, { [ns]: "Global" })).toBe(true);
      expect(matches({ [field]: [exact("Global")] }, { [ns]: "Global" })).toBe(true);
      expect(matches({ [field]: [exact("Global")] }, { [ns]: "-" })).toBe(false);
      expect(matches({ [field]: [exact("-")] }, { [ns]: "" })).toBe(false);
      expect(matches({ [field]: [exact("")] }, { [ns]: "-" })).toBe(false);
      expect(matches({ [field]: [exact("-")] }, { [ns]: "-" })).toBe(true);
    }
  });
});

describe("compileFilter: protocols, ports, actions, reporter", () => {
  it("matches protocols as StringMatch without aliases", () => {
    expect(matches({ protocols: [exact("tcp")] })).toBe(true);
    expect(matches({ protocols: [exact("TCP")] })).toBe(false);
    expect(matches({ protocols: [exact("udp"), exact("tcp")] })).toBe(true);
    expect(matches({ protocols: [fuzzy("icmp")] }, { proto: "icmp6" })).toBe(true);
    expect(matches({ protocols: [exact("icmp")] }, { proto: "icmp6" })).toBe(false);
    expect(matches({ protocols: [exact("17")] }, { proto: "17" })).toBe(true);
  });

  it("matches dest_ports against the destination port only", () => {
    expect(matches({ destPorts: [8080] })).toBe(true);
    expect(matches({ destPorts: [80, 8080] })).toBe(true);
    expect(matches({ destPorts: [80] })).toBe(false);
    expect(matches({ destPorts: [80] }, { destServicePort: 80 })).toBe(false);
  });

  it("matches actions against the final action; Unspecified matches action 0", () => {
    expect(matches({ actions: [Action.Allow] })).toBe(true);
    expect(matches({ actions: [Action.Deny] })).toBe(false);
    expect(matches({ actions: [Action.Deny, Action.Allow] })).toBe(true);
    expect(matches({ actions: [Action.ActionUnspecified] }, { action: 0 })).toBe(true);
    expect(matches({ actions: [Action.ActionUnspecified] })).toBe(false);
    // A key whose enforced hits deny but final action allows matches Allow only.
    expect(matches({ actions: [Action.Deny] }, { enforced: [policyHit({ action: Action.Deny })] })).toBe(false);
  });

  it("matches pending_actions when at least one pending hit has one of the actions", () => {
    const pending = [policyHit({ action: Action.Pass, policyIndex: 0 }), policyHit({ action: Action.Deny, policyIndex: 1 })];
    expect(matches({ pendingActions: [Action.Deny] }, { pending })).toBe(true);
    expect(matches({ pendingActions: [Action.Allow, Action.Pass] }, { pending })).toBe(true);
    expect(matches({ pendingActions: [Action.Allow] }, { pending })).toBe(false);
    // Keys without pending hits never match; enforced hits do not count.
    expect(matches({ pendingActions: [Action.Allow] }, { pending: [] })).toBe(false);
    expect(matches({ pendingActions: [Action.ActionUnspecified] }, { pending: [] })).toBe(false);
  });

  it("matches reporter; Unspecified does not filter", () => {
    expect(matches({ reporter: Reporter.ReporterUnspecified }, { reporter: Reporter.Dst })).toBe(true);
    expect(matches({ reporter: Reporter.Src }, { reporter: Reporter.Src })).toBe(true);
    expect(matches({ reporter: Reporter.Src }, { reporter: Reporter.Dst })).toBe(false);
    expect(matches({ reporter: Reporter.Dst }, { reporter: Reporter.Dst })).toBe(true);
  });
});

describe("compileFilter: policies", () => {
  const enforced = [
    policyHit({ kind: PolicyKind.CalicoNetworkPolicy, namespace: "ns1", name: "web", tier: "app", action: Action.Pass, policyIndex: 0 }),
    policyHit({ kind: PolicyKind.GlobalNetworkPolicy, namespace: "", name: "default-deny", tier: "security", action: Action.Deny, policyIndex: 1 }),
  ];
  const pending = [
    policyHit({ kind: PolicyKind.StagedNetworkPolicy, namespace: "ns1", name: "staged-web", tier: "app", action: Action.Allow, policyIndex: 0 }),
  ];
  const key = { enforced, pending };

  it("matches when any hit, enforced or pending, satisfies any PolicyMatch", () => {
    expect(matches({ policies: [pm({ name: exact("web") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ name: exact("default-deny") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ name: exact("staged-web") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ name: exact("other") })] }, key)).toBe(false);
    expect(matches({ policies: [pm({ name: exact("other") }), pm({ name: exact("staged-web") })] }, key)).toBe(true);
  });

  it("requires every criterion of one PolicyMatch to hold on the same hit", () => {
    expect(matches({ policies: [pm({ name: exact("web"), namespace: exact("ns1"), tier: exact("app"), kind: PolicyKind.CalicoNetworkPolicy, action: Action.Pass })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ name: exact("web"), tier: exact("security") })] }, key)).toBe(false);
    expect(matches({ policies: [pm({ name: exact("web"), action: Action.Deny })] }, key)).toBe(false);
    expect(matches({ policies: [pm({ name: exact("web"), namespace: exact("") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ tier: exact("security"), action: Action.Deny })] }, key)).toBe(true);
  });

  it("distinguishes staged and enforced kinds", () => {
    expect(matches({ policies: [pm({ kind: PolicyKind.StagedNetworkPolicy, name: exact("staged-web") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ kind: PolicyKind.CalicoNetworkPolicy, name: exact("staged-web") })] }, key)).toBe(false);
  });

  it("compares names exactly unless the StringMatch is Fuzzy (substring, case-sensitive)", () => {
    expect(matches({ policies: [pm({ name: fuzzy("we") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ name: fuzzy("We") })] }, key)).toBe(false);
    expect(matches({ policies: [pm({ tier: fuzzy("ecur"), name: fuzzy("deny") })] }, key)).toBe(true);
    expect(matches({ policies: [pm({ name: exact("we") })] }, key)).toBe(false);
    expect(matches({ policies: [pm({ name: exact("Web") })] }, key)).toBe(false);
  });

  it("ignores the trigger of an EndOfTier hit", () => {
    const eot = policyHit({
      kind: PolicyKind.EndOfTier,
      namespace: "",
      name: "",
      tier: "app",
      action: Action.Deny,
      ruleIndex: -1,
      trigger: policyHit({ kind: PolicyKind.CalicoNetworkPolicy, namespace: "ns1", name: "web", tier: "app" }),
    });
    const k = { enforced: [eot] };
    expect(matches({ policies: [pm({ name: exact("web") })] }, k)).toBe(false);
    expect(matches({ policies: [pm({ namespace: exact("ns1") })] }, k)).toBe(false);
    expect(matches({ policies: [pm({ kind: PolicyKind.EndOfTier, tier: exact("app") })] }, k)).toBe(true);
  });

  it("an all-empty PolicyMatch matches any key with at least one hit", () => {
    expect(matches({ policies: [pm({})] }, key)).toBe(true);
    expect(matches({ policies: [pm({})] }, { enforced: [], pending: [] })).toBe(false);
    expect(matches({ policies: [pm({})] }, { enforced: [], pending })).toBe(true);
  });

  it("policyHitMatches compares only the hit's own fields", () => {
    expect(policyHitMatches(enforced[0]!, pm({ name: exact("web"), tier: exact("app") }))).toBe(true);
    expect(policyHitMatches(enforced[0]!, pm({ name: exact("web"), tier: exact("x") }))).toBe(false);
  });
});

describe("compileFilter: combination", () => {
  it("ANDs fields and ORs entries within a field", () => {
    const f: Partial<FilterSpec> = {
      sourceNamespaces: [exact("default"), exact("prod")],
      protocols: [exact("tcp")],
      destPorts: [443, 8080],
      actions: [Action.Allow],
    };
    expect(matches(f)).toBe(true);
    expect(matches(f, { sourceNamespace: "prod", destPort: 443 })).toBe(true);
    expect(matches(f, { sourceNamespace: "dev" })).toBe(false);
    expect(matches(f, { proto: "udp" })).toBe(false);
    expect(matches(f, { destPort: 80 })).toBe(false);
    expect(matches(f, { action: Action.Deny })).toBe(false);
  });

  it("gives the same answer on repeated values (per-request memo)", () => {
    const pred = compileFilter(spec({ sourceNames: [fuzzy("a")] }));
    for (let i = 0; i < 3; i++) {
      expect(pred(flowKey({ sourceName: "abc" }))).toBe(true);
      expect(pred(flowKey({ sourceName: "xyz" }))).toBe(false);
    }
  });
});

describe("filterSpec (wire Filter → FilterSpec)", () => {
  it("maps MatchType and every field", () => {
    const f = create(FilterSchema, {
      sourceNames: [{ value: "a", type: MatchType.Exact }],
      sourceNamespaces: [{ value: "b", type: MatchType.Fuzzy }],
      destNames: [{ value: "c" }],
      destNamespaces: [{ value: "d", type: MatchType.Fuzzy }],
      protocols: [{ value: "tcp" }],
      destPorts: [{ port: 443n }],
      actions: [Action.Deny],
      policies: [{ name: { value: "p" }, kind: PolicyKind.Profile, tier: { value: "t" }, namespace: { value: "n" }, action: Action.Allow }],
      reporter: Reporter.Dst,
      pendingActions: [Action.Pass],
    });
    expect(filterSpec(f)).toEqual({
      sourceNames: [exact("a")],
      sourceNamespaces: [fuzzy("b")],
      destNames: [exact("c")],
      destNamespaces: [fuzzy("d")],
      protocols: [exact("tcp")],
      destPorts: [443],
      actions: [Action.Deny],
      policies: [pm({ name: exact("p"), kind: PolicyKind.Profile, tier: exact("t"), namespace: exact("n"), action: Action.Allow })],
      reporter: Reporter.Dst,
      pendingActions: [Action.Pass],
    });
  });

  it("maps an absent filter to match-all", () => {
    expect(filterSpec(undefined)).toEqual(MATCH_ALL);
  });
});
