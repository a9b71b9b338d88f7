import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StatisticsRequestSchema, type StatisticType, type StatisticsGroupBy } from "../../../src/gen/goldmane/api_pb.js";
import type { KeyPredicate } from "../../../src/query/filter.js";
import { QueryError } from "../../../src/query/errors.js";
import { compareStatisticsRows, listStatistics, type StatisticsRow } from "../../../src/query/statistics.js";
import { parseStatisticsRequest } from "../../../src/server/statistics-service.js";
import { T0, policyHit, testAggregator, type IngestFlowInit, type TestAggregator } from "../../helpers/flow-fixtures.js";

const W = 15;
const B = T0 - 60;

type Req = MessageInitShape<typeof StatisticsRequestSchema>;

function run(t: TestAggregator, init: Req = {}, scope?: KeyPredicate): StatisticsRow[] {
  const q = parseStatisticsRequest(create(StatisticsRequestSchema, init), t.context());
  return listStatistics(t.agg.store, t.agg.policyStats, scope ? { ...q, scope } : q);
}

function fails(t: TestAggregator, init: Req): QueryError {
  try {
    run(t, init);
  } catch (e) {
    expect(e).toBeInstanceOf(QueryError);
    return e as QueryError;
  }
  throw new Error("expected a QueryError");
}

/** The six arrays of a row, for compact assertions. */
const arrays = (r: StatisticsRow) => [r.allowedIn, r.allowedOut, r.deniedIn, r.deniedOut, r.passedIn, r.passedOut];
const who = (r: StatisticsRow) => `${r.tier}|${r.kind}|${r.namespace}/${r.name}|${r.action}|${r.ruleIndex}|${r.direction}`;

function setup(flows: IngestFlowInit[] = [{}]) {
  const t = testAggregator();
  for (const f of flows) t.ingest(f);
  return t;
}

describe("Statistics: time range (goldmane-spec §7.1)", () => {
  it("default range: every complete bucket; the current bucket (lt = now) is excluded", () => {
    const t = setup([{ startSec: B }, { startSec: T0 + 1, key: { destPort: 1 } }]);
    t.clock.advance(7); // now mid-bucket [T0, T0+15)
    const [r] = run(t, { timeSeries: true });
    expect(r!.x).toEqual([B]);
    expect(r!.allowedIn).toEqual([1]);
  });

  it("from the bucket containing gte (inclusive, mid-bucket) to the one containing lt (exclusive)", () => {
    const t = setup([{ startSec: B - W }, { startSec: B }, { startSec: B + W }]);
    expect(run(t, { startTimeGte: BigInt(B - W + 14), startTimeLt: BigInt(B + W + 1), timeSeries: true })[0]!.x).toEqual([B - W, B]);
    expect(run(t, { startTimeGte: BigInt(B + 1), startTimeLt: BigInt(B + W), timeSeries: true })[0]!.x).toEqual([B]);
  });

  it("gte and lt in the same bucket: nothing", () => {
    const t = setup();
    expect(run(t, { startTimeGte: BigInt(B + 1), startTimeLt: BigInt(B + 5) })).toEqual([]);
  });

  it("relative times are relative to now; lt in the future bucket is allowed (that bucket excluded)", () => {
    const t = setup([{ startSec: B }, { startSec: T0 + 1, key: { destPort: 2 } }, { startSec: T0 + W, key: { destPort: 3 } }]);
    expect(run(t, { startTimeGte: -60n, startTimeLt: -45n, timeSeries: true })[0]!.x).toEqual([B]);
    expect(run(t, { startTimeGte: -60n, startTimeLt: BigInt(T0 + 2 * W - 1), timeSeries: true })[0]!.x).toEqual([B, T0]);
  });

  it("a range outside the ring, or gte >= lt → INVALID_ARGUMENT (QueryError)", () => {
    const t = setup();
    const oldest = t.agg.store.ring.oldestStart;
    expect(fails(t, { startTimeGte: -7200n }).field).toBe("start_time_gte");
    expect(fails(t, { startTimeGte: BigInt(oldest - 1) }).message).toBe(`start_time_gte: failed to find bucket for time range ${oldest - 1}:${T0}`);
    expect(run(t, { startTimeGte: BigInt(oldest) })).toHaveLength(1);
    expect(fails(t, { startTimeLt: BigInt(T0 + 2 * W) }).field).toBe("start_time_lt");
    expect(fails(t, { startTimeGte: BigInt(B), startTimeLt: BigInt(B) }).field).toBe("start_time_gte");
    expect(fails(t, { startTimeGte: -10n, startTimeLt: -20n }).message).toMatch(/must be less than/);
  });

  it("unknown type or group_by → INVALID_ARGUMENT", () => {
    const t = setup();
    expect(fails(t, { type: 3 as StatisticType }).field).toBe("type");
    expect(fails(t, { groupBy: 2 as StatisticsGroupBy }).field).toBe("group_by");
  });
});

describe("Statistics: what is counted (goldmane-spec §7.2)", () => {
  const flows: IngestFlowInit[] = [
    { key: { reporter: 1, enforced: [policyHit({ action: 1 })] }, counters: { packetsIn: 1, packetsOut: 2, bytesIn: 10, bytesOut: 20, numConnectionsLive: 3 } },
    { key: { reporter: 2, enforced: [policyHit({ action: 2, ruleIndex: 1 })] }, counters: { packetsIn: 4, packetsOut: 8, bytesIn: 40, bytesOut: 80, numConnectionsLive: 6 } },
    { key: { reporter: 2, enforced: [policyHit({ action: 3, ruleIndex: 2 })] }, counters: { packetsIn: 16, packetsOut: 32, bytesIn: 160, bytesOut: 320, numConnectionsLive: 12 } },
  ];

  it("PacketCount and ByteCount: in/out are packet directions, split by the hit's action", () => {
    const t = setup(flows);
    const [p] = run(t, { type: 0 });
    expect(arrays(p!)).toEqual([[1], [2], [4], [8], [16], [32]]);
    const [b] = run(t, { type: 1 });
    expect(arrays(b!)).toEqual([[10], [20], [40], [80], [160], [320]]);
  });

  it("LiveConnectionCount: in for ingress (reporter != Src), out for egress", () => {
    const t = setup(flows);
    const [l] = run(t, { type: 2 });
    expect(arrays(l!)).toEqual([[0], [3], [6], [0], [12], [0]]);
    expect(l!.type).toBe(2);
  });

  it("group_by Policy: one result per policy, direction Any, action and rule_index 0", () => {
    const t = setup(flows);
    const rows = run(t, { groupBy: 0 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 1, namespace: "default", name: "allow-all", tier: "default", action: 0, ruleIndex: 0, direction: 0, groupBy: 0, x: null });
  });

  it("group_by PolicyRule: one result per (rule_index, action, direction), with the real rule_index", () => {
    const t = setup(flows);
    const rows = run(t, { groupBy: 1 });
    expect(rows.map(who)).toEqual(["default|1|default/allow-all|1|0|2", "default|1|default/allow-all|2|1|1", "default|1|default/allow-all|3|2|1"]);
    expect(rows.map((r) => r.groupBy)).toEqual([1, 1, 1]);
  });

  it("Policy grouping counts a flow once per policy even when it hits two rules of it", () => {
    const t = setup([{ key: { enforced: [policyHit({ ruleIndex: 0 })], pending: [policyHit({ ruleIndex: 5 })] } }]);
    expect(run(t, {})[0]!.allowedIn).toEqual([1]);
    expect(run(t, { groupBy: 1 }).map((r) => r.allowedIn)).toEqual([[1], [1]]);
  });

  it("EndOfTier: credited to the trigger policy with the EndOfTier action and rule_index -1", () => {
    const trigger = policyHit({ kind: 2, namespace: "", name: "gnp", tier: "sec", action: 0 });
    const t = setup([{ key: { action: 2, enforced: [policyHit({ kind: 10, namespace: "", name: "", tier: "sec", action: 2, ruleIndex: -1, trigger })] } }]);
    const [rule] = run(t, { groupBy: 1 });
    expect(who(rule!)).toBe("sec|2|/gnp|2|-1|2");
    expect(arrays(rule!)).toEqual([[0], [0], [1], [2], [0], [0]]);
    expect(run(t, {})[0]!.deniedOut).toEqual([2]);
  });

  it("ActionUnspecified hits give a result with zero counts", () => {
    const t = setup([{ key: { enforced: [policyHit({ action: 0 })] } }]);
    const [r] = run(t, { groupBy: 1 });
    expect(arrays(r!)).toEqual([[0], [0], [0], [0], [0], [0]]);
  });
});

describe("Statistics: time_series", () => {
  it("true: one element per bucket in which the policy/rule appeared (sparse), oldest first, x = starts", () => {
    const t = setup([
      { startSec: B - 2 * W, key: { enforced: [policyHit({ name: "a" })] } },
      { startSec: B, key: { enforced: [policyHit({ name: "a" })] }, counters: { packetsIn: 7 } },
      { startSec: B - W, key: { enforced: [policyHit({ name: "b" })] } },
    ]);
    const rows = run(t, { timeSeries: true });
    expect(rows.map((r) => [r.name, r.x, r.allowedIn])).toEqual([
      ["a", [B - 2 * W, B], [1, 7]],
      ["b", [B - W], [1]],
    ]);
    for (const r of rows) for (const a of arrays(r)) expect(a).toHaveLength(r.x!.length);
  });

  it("Policy grouping: lines of different actions in one bucket make one element", () => {
    const t = setup([
      { key: { destPort: 1, enforced: [policyHit({ action: 1 })] } },
      { key: { destPort: 2, enforced: [policyHit({ action: 2, ruleIndex: 1 })] } },
    ]);
    const [r] = run(t, { timeSeries: true });
    expect(r!.x).toEqual([B]);
    expect(arrays(r!)).toEqual([[1], [2], [1], [2], [0], [0]]);
  });

  it("false: exactly one element per array (the sum over the buckets) and no x", () => {
    const t = setup([{ startSec: B - W }, { startSec: B }]);
    const [r] = run(t, { timeSeries: false });
    expect(r!.x).toBeNull();
    expect(arrays(r!)).toEqual([[2], [4], [0], [0], [0], [0]]);
  });
});

describe("Statistics: policy_match", () => {
  const flows: IngestFlowInit[] = [
    { key: { destPort: 1, enforced: [policyHit({ tier: "t1", namespace: "ns1", name: "p1", kind: 1, action: 1 })] } },
    { key: { destPort: 2, enforced: [policyHit({ tier: "t1", namespace: "ns1", name: "p1", kind: 1, action: 2, ruleIndex: 1 })] } },
    { key: { destPort: 3, enforced: [policyHit({ tier: "t2", namespace: "", name: "g1", kind: 2, action: 1 })] } },
    { key: { destPort: 4, enforced: [policyHit({ tier: "t2", namespace: "ns1", name: "p1x", kind: 3, action: 3 })] } },
  ];
  const names = (rows: StatisticsRow[]) => rows.map((r) => r.name);

  it("empty = any; tier / namespace / name exact (no substring)", () => {
    const t = setup(flows);
    expect(names(run(t, {}))).toEqual(["p1", "g1", "p1x"]);
    expect(names(run(t, { policyMatch: { tier: { value: "t2" } } }))).toEqual(["g1", "p1x"]);
    expect(names(run(t, { policyMatch: { namespace: { value: "ns1" } } }))).toEqual(["p1", "p1x"]);
    expect(names(run(t, { policyMatch: { name: { value: "p1" } } }))).toEqual(["p1"]);
    expect(names(run(t, { policyMatch: { name: { value: "p" } } }))).toEqual([]);
    expect(names(run(t, { policyMatch: { namespace: { value: "ns1" }, tier: { value: "t2" } } }))).toEqual(["p1x"]);
  });

  it("kind: 0 = any, else equal", () => {
    const t = setup(flows);
    expect(names(run(t, { policyMatch: { kind: 2 } }))).toEqual(["g1"]);
    expect(names(run(t, { policyMatch: { kind: 6 } }))).toEqual([]);
  });

  it("action on PolicyRule: rules with that action", () => {
    const t = setup(flows);
    expect(run(t, { groupBy: 1, policyMatch: { action: 2 } }).map(who)).toEqual(["t1|1|ns1/p1|2|1|2"]);
    expect(run(t, { groupBy: 1, policyMatch: { action: 1 } }).map((r) => r.name)).toEqual(["p1", "g1"]);
  });

  it("action on Policy: policies with a rule of that action, with all their counts", () => {
    const t = setup(flows);
    const rows = run(t, { policyMatch: { action: 2 } });
    expect(names(rows)).toEqual(["p1"]);
    expect(arrays(rows[0]!)).toEqual([[1], [2], [1], [2], [0], [0]]);
    expect(names(run(t, { policyMatch: { action: 3 } }))).toEqual(["p1x"]);
    expect(names(run(t, { policyMatch: { action: 3, tier: { value: "t1" } } }))).toEqual([]);
  });

  it("action on Policy sees rules only inside the range", () => {
    const t = setup([{ startSec: B - W, key: { enforced: [policyHit({ action: 2, ruleIndex: 1 })] } }, { startSec: B }]);
    expect(run(t, { policyMatch: { action: 2 } })).toHaveLength(1);
    expect(run(t, { startTimeGte: BigInt(B), policyMatch: { action: 2 } })).toEqual([]);
  });
});

describe("Statistics: result order", () => {
  it("tier, kind (Goldmane short name), namespace, name byte-wise, then action, rule_index, direction", () => {
    const t = setup([
      { key: { destPort: 1, enforced: [policyHit({ tier: "b", kind: 1, namespace: "n", name: "x" })] } },
      { key: { destPort: 2, enforced: [policyHit({ tier: "a", kind: 1, namespace: "n", name: "x" })] } },
      { key: { destPort: 3, enforced: [policyHit({ tier: "a", kind: 2, namespace: "", name: "x" })] } }, // gnp < np
      { key: { destPort: 4, enforced: [policyHit({ tier: "a", kind: 1, namespace: "m", name: "y" })] } },
      { key: { destPort: 5, enforced: [policyHit({ tier: "a", kind: 1, namespace: "m", name: "\u{1F600}" })] } },
      { key: { destPort: 6, enforced: [policyHit({ tier: "a", kind: 1, namespace: "m", name: "\uFF21" })] } },
      { key: { destPort: 7, enforced: [policyHit({ tier: "a", kind: 1, namespace: "n", name: "x", ruleIndex: 10 })] } },
      { key: { destPort: 8, enforced: [policyHit({ tier: "a", kind: 1, namespace: "n", name: "x", ruleIndex: 2 })] } },
      { key: { destPort: 9, reporter: 2, enforced: [policyHit({ tier: "a", kind: 1, namespace: "n", name: "x", ruleIndex: 2 })] } },
      { key: { destPort: 10, enforced: [policyHit({ tier: "a", kind: 1, namespace: "n", name: "x", action: 2 })] } },
    ]);
    expect(run(t, { groupBy: 1 }).map(who)).toEqual([
      "a|2|/x|1|0|2",
      "a|1|m/y|1|0|2",
      "a|1|m/\uFF21|1|0|2",
      "a|1|m/\u{1F600}|1|0|2",
      "a|1|n/x|1|0|2",
      "a|1|n/x|1|2|1",
      "a|1|n/x|1|2|2",
      "a|1|n/x|1|10|2",
      "a|1|n/x|2|0|2",
      "b|1|n/x|1|0|2",
    ]);
    const rows = run(t, { groupBy: 1 });
    expect([...rows].reverse().sort(compareStatisticsRows)).toEqual(rows);
  });
});

describe("Statistics: scoped callers (issue 8 path, recomputed from windows)", () => {
  it("with an all-pass scope equals the ingest-time index, for every type and grouping", () => {
    const t = setup([
      { startSec: B - 2 * W, key: { reporter: 2, enforced: [policyHit({ action: 2, ruleIndex: 1 })], pending: [policyHit({ kind: 3, name: "s" })] } },
      { startSec: B, counters: { packetsIn: 9 } },
      { startSec: B, key: { destPort: 1, enforced: [policyHit({ kind: 10, tier: "default", namespace: "", name: "", action: 2, ruleIndex: -1, trigger: policyHit({ name: "t" }) })] } },
      { startSec: B - W, key: { sourceNamespace: "other", enforced: [policyHit({ name: "o" })] } },
    ]);
    t.ingest({ startSec: B, counters: { packetsIn: 5 } }, "10.0.0.2");
    for (const type of [0, 1, 2]) {
      for (const groupBy of [0, 1]) {
        for (const timeSeries of [false, true]) {
          const req = { type, groupBy, timeSeries };
          expect(run(t, req, () => true)).toEqual(run(t, req));
        }
      }
    }
  });

  it("counts only flows of keys in scope", () => {
    const t = setup([{ key: { enforced: [policyHit({ name: "in" })] } }, { key: { sourceNamespace: "x", destNamespace: "x", enforced: [policyHit({ name: "out" })] } }]);
    const scope: KeyPredicate = (k) => k.sourceNamespace === "default" || k.destNamespace === "default";
    expect(run(t, {}, scope).map((r) => r.name)).toEqual(["in"]);
    expect(run(t, {}).map((r) => r.name)).toEqual(["in", "out"]);
  });
});
