import { LEGACY_POLICY_KINDS } from "../../../src/server/lenient-routes.js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FilterHintsRequestSchema, FilterType, PolicyKind } from "../../../src/gen/goldmane/api_pb.js";
import { QueryError } from "../../../src/query/errors.js";
import type { KeyPredicate } from "../../../src/query/filter.js";
import { FILTER_TYPE_NAMES, POLICY_KIND_NAMES, filterHints, type FilterHintsAnswer } from "../../../src/query/filter-hints.js";
import { parseFilterHintsRequest } from "../../../src/server/flows-filter-hints.js";
import { T0, policyHit, testAggregator, type IngestFlowInit, type TestAggregator } from "../../helpers/flow-fixtures.js";

const W = 15;
const B = T0 - 60;

type Req = MessageInitShape<typeof FilterHintsRequestSchema>;

function hints(t: TestAggregator, init: Req, scope?: KeyPredicate): FilterHintsAnswer {
  const q = parseFilterHintsRequest(create(FilterHintsRequestSchema, init), t.context());
  return filterHints(t.agg.store, scope ? { ...q, scope } : q);
}
const values = (t: TestAggregator, init: Req, scope?: KeyPredicate) => hints(t, init, scope).values;

function setup(flows: IngestFlowInit[]) {
  const t = testAggregator();
  for (const f of flows) t.ingest(f);
  return t;
}

describe("FilterHints: names and namespaces (goldmane-spec §6)", () => {
  const t = () =>
    setup([
      { key: { sourceName: "pub", sourceNamespace: "-", destName: "pvt", destNamespace: "" } },
      { key: { sourceName: "b-*", sourceNamespace: "ns-b", destName: "srv", destNamespace: "Global" } },
      { key: { sourceName: "a-*", sourceNamespace: "ns-b", destName: "srv", destNamespace: "ns-a" } },
    ]);

  it("returns raw stored values (pub, pvt, -, \"\" untranslated), deduplicated and sorted byte-wise", () => {
    const a = t();
    expect(values(a, { type: FilterType.FilterTypeSourceName })).toEqual(["a-*", "b-*", "pub"]);
    expect(values(a, { type: FilterType.FilterTypeDestName })).toEqual(["pvt", "srv"]);
    expect(values(a, { type: FilterType.FilterTypeSourceNamespace })).toEqual(["-", "ns-b"]);
    expect(values(a, { type: FilterType.FilterTypeDestNamespace })).toEqual(["", "Global", "ns-a"]);
  });

  it("sorts by UTF-8 bytes, not UTF-16 units", () => {
    const a = setup([{ key: { destName: "\u{1F600}" } }, { key: { destName: "\uFF21" } }, { key: { destName: "z" } }]);
    expect(values(a, { type: FilterType.FilterTypeDestName })).toEqual(["z", "\uFF21", "\u{1F600}"]);
  });
});

describe("FilterHints: policy types", () => {
  const trigger = policyHit({ kind: PolicyKind.GlobalNetworkPolicy, namespace: "", name: "trig", tier: "trig-tier" });
  const flows: IngestFlowInit[] = [
    {
      key: {
        destPort: 1,
        enforced: [
          policyHit({ kind: 1, namespace: "ns1", name: "p1", tier: "t1" }),
          policyHit({ kind: PolicyKind.EndOfTier, namespace: "", name: "", tier: "t9", action: 2, policyIndex: 1, ruleIndex: -1, trigger }),
          policyHit({ kind: PolicyKind.Profile, namespace: "", name: "kns.x", tier: "__PROFILE__", policyIndex: 2 }),
        ],
        pending: [policyHit({ kind: PolicyKind.StagedNetworkPolicy, namespace: "ns2", name: "sp", tier: "t2" })],
      },
    },
    { key: { destPort: 2, enforced: [policyHit({ kind: 6, namespace: "ns1", name: "knp", tier: "default" })] } },
  ];

  it("tier / name / namespace of every enforced and pending hit, the trigger's when present, Profiles skipped", () => {
    const a = setup(flows);
    expect(values(a, { type: FilterType.FilterTypePolicyTier })).toEqual(["default", "t1", "t2", "trig-tier"]);
    expect(values(a, { type: FilterType.FilterTypePolicyName })).toEqual(["knp", "p1", "sp", "trig"]);
    expect(values(a, { type: FilterType.FilterTypePolicyNamespace })).toEqual(["", "ns1", "ns2"]);
  });

  it("kind as its enum name (the trigger's kind)", () => {
    const a = setup(flows);
    expect(values(a, { type: FilterType.FilterTypePolicyKind })).toEqual([
      "CalicoNetworkPolicy",
      "GlobalNetworkPolicy",
      "NetworkPolicy",
      "StagedNetworkPolicy",
    ]);
  });

  it("a Profile trigger is reported (the Profile check is on the outer hit)", () => {
    const prof = policyHit({ kind: PolicyKind.Profile, namespace: "", name: "kns.y", tier: "__PROFILE__" });
    const a = setup([{ key: { enforced: [policyHit({ kind: PolicyKind.EndOfTier, namespace: "", name: "", tier: "x", trigger: prof })] } }]);
    expect(values(a, { type: FilterType.FilterTypePolicyName })).toEqual(["kns.y"]);
    expect(values(a, { type: FilterType.FilterTypePolicyKind })).toEqual(["Profile"]);
  });

  it("an EndOfTier hit without a trigger reports EndOfTier (reachable only through the model)", () => {
    const a = setup([{ key: { enforced: [policyHit({ kind: PolicyKind.EndOfTier, namespace: "", name: "", tier: "x" })] } }]);
    expect(values(a, { type: FilterType.FilterTypePolicyKind })).toEqual(["EndOfTier"]);
  });

  it("the kind name table matches the generated enum", () => {
    // 7 and 8 are reserved in the proto: v3.30/v3.31's names (DESIGN §6d)
    for (const [n, name] of Object.entries(POLICY_KIND_NAMES)) expect(PolicyKind[Number(n)] ?? LEGACY_POLICY_KINDS[Number(n)]).toBe(name);
    expect(Object.keys(LEGACY_POLICY_KINDS)).toEqual(["7", "8"]);
    for (const [n, name] of Object.entries(FILTER_TYPE_NAMES)) expect(FilterType[Number(n)]).toBe(name);
  });

  it("the Filter selects keys; all hits of a selected key contribute", () => {
    const a = setup(flows);
    const onlyP1 = { policies: [{ name: { value: "p1" } }] };
    expect(values(a, { type: FilterType.FilterTypePolicyTier, filter: onlyP1 })).toEqual(["t1", "t2", "trig-tier"]);
    expect(values(a, { type: FilterType.FilterTypePolicyTier, filter: { destPorts: [{ port: 2n }] } })).toEqual(["default"]);
  });
});

describe("FilterHints: key selection and time window (as List)", () => {
  it("only keys with data in a bucket lying wholly inside the range", () => {
    const a = setup([
      { startSec: B - W, key: { destName: "older" } },
      { startSec: B, key: { destName: "b" } },
      { startSec: T0 + 1, key: { destName: "current" } }, // partial bucket: never with lt = now
      { startSec: T0 + W, key: { destName: "future" } },
    ]);
    a.clock.advance(7);
    expect(values(a, { type: FilterType.FilterTypeDestName })).toEqual(["b", "older"]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeGte: BigInt(B) })).toEqual(["b"]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeGte: BigInt(B - W + 1) })).toEqual(["b"]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeLt: BigInt(B + W - 1) })).toEqual(["older"]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeLt: BigInt(T0 + 2 * W) })).toEqual(["b", "current", "future", "older"]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeGte: -75n, startTimeLt: -60n })).toEqual([]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeGte: -80n, startTimeLt: -52n })).toEqual(["b"]);
  });

  it("a gte older than the ring is not an error; gte >= lt is", () => {
    const a = setup([{}]);
    expect(values(a, { type: FilterType.FilterTypeDestName, startTimeGte: -99999n })).toEqual(["server-*"]);
    expect(() => values(a, { type: FilterType.FilterTypeDestName, startTimeGte: -10n, startTimeLt: -20n })).toThrow(QueryError);
  });
});

describe("FilterHints: paging (as List)", () => {
  const a = () => setup(["e", "a", "d", "b", "c"].map((destName, i) => ({ key: { destName, destPort: i } })));

  it("page_size 0 = all; pages sliced after sorting; totals always correct; past the end empty", () => {
    const t = a();
    const type = FilterType.FilterTypeDestName;
    expect(hints(t, { type })).toEqual({ values: ["a", "b", "c", "d", "e"], meta: { totalPages: 1, totalResults: 5 } });
    expect(hints(t, { type, pageSize: 2n })).toEqual({ values: ["a", "b"], meta: { totalPages: 3, totalResults: 5 } });
    expect(hints(t, { type, pageSize: 2n, page: 2n })).toEqual({ values: ["e"], meta: { totalPages: 3, totalResults: 5 } });
    expect(hints(t, { type, pageSize: 2n, page: 3n })).toEqual({ values: [], meta: { totalPages: 3, totalResults: 5 } });
    expect(hints(t, { type: FilterType.FilterTypePolicyName, pageSize: 2n, page: 9n })).toEqual({ values: [], meta: { totalPages: 1, totalResults: 1 } });
  });

  it("no values → {0, 0}; negative page or page_size → QueryError", () => {
    const t = a();
    expect(hints(t, { type: FilterType.FilterTypeDestName, filter: { destNames: [{ value: "zz" }] } }).meta).toEqual({ totalPages: 0, totalResults: 0 });
    expect(() => hints(t, { type: FilterType.FilterTypeDestName, page: -1n, pageSize: 2n })).toThrow(/page: must be >= 0/);
    expect(() => hints(t, { type: FilterType.FilterTypeDestName, pageSize: -1n })).toThrow(/page_size/);
  });
});

describe("FilterHints: type", () => {
  it("unspecified or unknown → QueryError on `type` with Goldmane's text", () => {
    const t = setup([{}]);
    for (const [type, text] of [
      [0, "type: unsupported filter type 'FilterTypeUnspecified'"],
      [9, "type: unsupported filter type '9'"],
    ] as const) {
      try {
        hints(t, { type: type as FilterType });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(QueryError);
        expect((e as QueryError).field).toBe("type");
        expect((e as Error).message).toBe(text);
      }
    }
  });
});

describe("FilterHints: scope (issue 8)", () => {
  it("an extra key predicate restricts the keys like the Filter", () => {
    const t = setup([
      { key: { sourceNamespace: "a", destNamespace: "a", destName: "in-a" } },
      { key: { sourceNamespace: "b", destNamespace: "b", destName: "in-b" } },
    ]);
    const scope: KeyPredicate = (k) => k.sourceNamespace === "a" || k.destNamespace === "a";
    expect(values(t, { type: FilterType.FilterTypeDestName }, scope)).toEqual(["in-a"]);
    expect(values(t, { type: FilterType.FilterTypeDestName })).toEqual(["in-a", "in-b"]);
  });
});
