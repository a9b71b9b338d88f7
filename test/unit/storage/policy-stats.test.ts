import { describe, expect, it } from "vitest";
import { REPORTER_DST, REPORTER_SRC } from "../../../src/model/flow.js";
import { FlowStore } from "../../../src/storage/flow-store.js";
import {
  DIRECTION_ANY,
  DIRECTION_EGRESS,
  DIRECTION_INGRESS,
  PolicyStats,
  STAT_COUNTERS,
} from "../../../src/storage/policy-stats.js";
import { T0, ingestFlow, policyHit, testAggregator, type IngestFlowInit } from "../../helpers/flow-fixtures.js";

const W = 15;
const B = T0 - 60; // the fixtures' default bucket (a complete bucket)

interface LineView {
  policy: string;
  action: number;
  ruleIndex: number;
  direction: number;
  /** packetsIn, packetsOut, bytesIn, bytesOut, liveIn, liveOut */
  c: number[];
}

/** The statistics lines of one bucket, readable and in a stable order. */
function linesAt(stats: PolicyStats, b: number): LineView[] {
  const bs = stats.bucket(b);
  if (!bs) return [];
  const out: LineView[] = [];
  for (let r = 0; r < bs.size; r++) {
    const line = bs.lines[r]!;
    const p = stats.linePolicy(line);
    out.push({
      policy: `${stats.policyKind(p)}|${stats.policyTier(p)}|${stats.policyNamespace(p)}/${stats.policyName(p)}`,
      action: stats.lineAction(line),
      ruleIndex: stats.lineRuleIndex(line),
      direction: stats.lineDirection(line),
      c: Array.from(bs.counters.subarray(r * STAT_COUNTERS, r * STAT_COUNTERS + STAT_COUNTERS)),
    });
  }
  return out.sort((a, b) => (a.policy + a.direction + a.action + a.ruleIndex).localeCompare(b.policy + b.direction + b.action + b.ruleIndex));
}

function setup() {
  const t = testAggregator();
  const add = (init: IngestFlowInit, node = "10.0.0.1") => t.ingest(init, node);
  return { t, add, stats: t.agg.policyStats };
}

const DEFAULT_POLICY = "1|default|default/allow-all";
// Default fixture counters: packets 1/2, bytes 100/200, live 5; reporter Src (egress).
const EGRESS_ALLOW = [1, 2, 100, 200, 0, 5];

describe("PolicyStats: what one flow adds (goldmane-spec §7.2, DESIGN §4)", () => {
  it("one hit: a rule line (real rule_index, direction) and a policy line (direction Any)", () => {
    const { add, stats } = setup();
    add({ key: { enforced: [policyHit({ ruleIndex: 3, policyIndex: 7 })] } });
    expect(linesAt(stats, B)).toEqual([
      { policy: DEFAULT_POLICY, action: 1, ruleIndex: 0, direction: DIRECTION_ANY, c: EGRESS_ALLOW },
      { policy: DEFAULT_POLICY, action: 1, ruleIndex: 3, direction: DIRECTION_EGRESS, c: EGRESS_ALLOW },
    ]);
  });

  it("direction is egress iff reporter == Src; Dst and unspecified are ingress, and live goes to in", () => {
    for (const [reporter, direction] of [
      [REPORTER_SRC, DIRECTION_EGRESS],
      [REPORTER_DST, DIRECTION_INGRESS],
      [0, DIRECTION_INGRESS],
    ] as const) {
      const { add, stats } = setup();
      add({ key: { reporter } });
      const rule = linesAt(stats, B).find((l) => l.direction !== DIRECTION_ANY)!;
      expect(rule.direction).toBe(direction);
      expect(rule.c).toEqual(direction === DIRECTION_EGRESS ? [1, 2, 100, 200, 0, 5] : [1, 2, 100, 200, 5, 0]);
    }
  });

  it("an EndOfTier hit is credited to its trigger policy with its own action and rule_index", () => {
    const { add, stats } = setup();
    const trigger = policyHit({ kind: 2, namespace: "", name: "gnp-a", tier: "security", action: 0, policyIndex: 0, ruleIndex: 0 });
    add({ key: { action: 2, enforced: [policyHit({ kind: 10, namespace: "", name: "", tier: "security", action: 2, policyIndex: 1, ruleIndex: -1, trigger })] } });
    const lines = linesAt(stats, B);
    expect(lines.map((l) => [l.policy, l.action, l.ruleIndex, l.direction])).toEqual([
      ["2|security|/gnp-a", 2, 0, DIRECTION_ANY],
      ["2|security|/gnp-a", 2, -1, DIRECTION_EGRESS],
    ]);
  });

  it("Profile hits are counted", () => {
    const { add, stats } = setup();
    add({ key: { enforced: [policyHit({ kind: 9, namespace: "", name: "kns.default", tier: "__PROFILE__" })] } });
    expect(linesAt(stats, B).map((l) => l.policy)).toEqual(["9|__PROFILE__|/kns.default", "9|__PROFILE__|/kns.default"]);
  });

  it("identical rule keys in one flow count once (the same hit enforced and pending)", () => {
    const { add, stats } = setup();
    add({ key: { enforced: [policyHit()], pending: [policyHit()] } });
    expect(linesAt(stats, B)).toEqual([
      { policy: DEFAULT_POLICY, action: 1, ruleIndex: 0, direction: DIRECTION_ANY, c: EGRESS_ALLOW },
      { policy: DEFAULT_POLICY, action: 1, ruleIndex: 0, direction: DIRECTION_EGRESS, c: EGRESS_ALLOW },
    ]);
  });

  it("two rules of one policy: each rule once, the policy line once, with the first hit's action", () => {
    const { add, stats } = setup();
    add({
      key: {
        enforced: [policyHit({ action: 1, ruleIndex: 0, policyIndex: 0 })],
        pending: [policyHit({ action: 2, ruleIndex: 4, policyIndex: 0 })],
      },
    });
    expect(linesAt(stats, B)).toEqual([
      { policy: DEFAULT_POLICY, action: 1, ruleIndex: 0, direction: DIRECTION_ANY, c: EGRESS_ALLOW },
      { policy: DEFAULT_POLICY, action: 1, ruleIndex: 0, direction: DIRECTION_EGRESS, c: EGRESS_ALLOW },
      { policy: DEFAULT_POLICY, action: 2, ruleIndex: 4, direction: DIRECTION_EGRESS, c: EGRESS_ALLOW },
    ]);
  });

  it("flows without hits add nothing; ActionUnspecified hits create lines", () => {
    const { add, stats } = setup();
    add({ key: { enforced: [] } });
    expect(stats.bucket(B)).toBeUndefined();
    add({ key: { destPort: 1, enforced: [policyHit({ action: 0 })] } });
    expect(linesAt(stats, B).map((l) => l.action)).toEqual([0, 0]);
  });

  it("sums flows per bucket; separate buckets stay separate; duplicates are not counted", () => {
    const { add, stats } = setup();
    add({}, "n1");
    add({}, "n1"); // duplicate emission from the same node: not stored, not counted
    add({}, "n2");
    add({ key: { destPort: 1 }, counters: { packetsIn: 10 } }, "n1");
    add({ startSec: B - W });
    const lines = linesAt(stats, B);
    expect(lines[0]!.c).toEqual([12, 6, 300, 600, 0, 15]);
    expect(linesAt(stats, B - W)[0]!.c).toEqual(EGRESS_ALLOW);
  });

  it("out-of-window flows are not counted", () => {
    const { add, stats } = setup();
    add({ startSec: T0 - 3 * 3600 });
    expect(stats.bucketCount).toBe(0);
  });
});

describe("PolicyStats: lifecycle", () => {
  it("drops a bucket on recycle and releases policies and lines once nothing refers to them", () => {
    const { t, add, stats } = setup();
    add({ startSec: B });
    add({ startSec: B - 10 * W, key: { enforced: [policyHit({ name: "old" })] } });
    expect(stats.policyCount).toBe(2);
    // Move until the older bucket is recycled, but not the newer one.
    t.advance(240 * W - 9 * W);
    expect(stats.bucket(B - 10 * W)).toBeUndefined();
    expect(linesAt(stats, B)).toHaveLength(2);
    // The key of "old" expired with its last window; its lines live on only in the slot cache
    // until the slot is reused, which the next new key does.
    add({ startSec: t.agg.store.ring.currentStart - W, key: { enforced: [policyHit({ name: "new" })] } });
    expect(stats.policyCount).toBe(2);
    t.advance(20 * W);
    expect(stats.bucket(B)).toBeUndefined();
  });

  it("a reused slot gets the new key's lines (no stale attribution)", () => {
    const store = new FlowStore({ windowSec: W, historyBuckets: 4, maxKeys: 10, replayHorizonSec: 30 }, T0);
    const stats = new PolicyStats();
    store.observe(stats);
    store.add(ingestFlow({ startSec: T0 - W, key: { enforced: [policyHit({ name: "a" })] } }), 0);
    store.advanceTo(T0 + 6 * W); // everything expires; slot 0 is free
    expect(store.keyCount).toBe(0);
    store.add(ingestFlow({ startSec: T0 + 5 * W, key: { enforced: [policyHit({ name: "b" })] } }), 0);
    expect(linesAt(stats, T0 + 5 * W).map((l) => l.policy)).toEqual(["1|default|default/b", "1|default|default/b"]);
    expect(stats.policyCount).toBe(1);
    expect(stats.lineCount).toBe(2);
    store.advanceTo(T0 + 12 * W);
    expect(stats.bucketCount).toBe(0);
  });
});
