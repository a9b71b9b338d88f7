import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FlowSchema, FlowUpdateSchema, PolicyKind } from "../../../src/gen/goldmane/api_pb.js";
import { flowFromProto, flowFromUpdate, keyToProto, rowToProto, type ConvertResult } from "../../../src/model/convert.js";
import type { IngestFlow } from "../../../src/model/flow.js";
import { keyString, sortHits, traceString } from "../../../src/model/flow-key.js";
import { counterArray, flowKey, flowUpdate, ingestFlow, policyHit, protoHit } from "../../helpers/flow-fixtures.js";

function ok(r: ConvertResult): IngestFlow {
  if (!r.ok) throw new Error(`expected a flow, got ${r.reason}`);
  return r.flow;
}

function reason(r: ConvertResult): string {
  return r.ok ? "ok" : r.reason;
}

const sig = (f: IngestFlow) => keyString(f.key, traceString(f.key.enforced, f.key.pending));

describe("flowFromUpdate: well-formed updates", () => {
  it("converts the fixture update to the fixture IngestFlow", () => {
    expect(ok(flowFromUpdate(flowUpdate({ startSec: 1234 })))).toEqual(ingestFlow({ startSec: 1234 }));
  });

  it("converts every field, int64s to numbers", () => {
    const u = create(FlowUpdateSchema, {
      flow: {
        Key: {
          sourceName: "s",
          sourceNamespace: "sn",
          sourceType: 2,
          destName: "d",
          destNamespace: "dn",
          destType: 4,
          destPort: 443n,
          destServiceName: "svc",
          destServiceNamespace: "svcns",
          destServicePortName: "https",
          destServicePort: 8443n,
          proto: "udp",
          reporter: 2,
          action: 2,
        },
        startTime: 100n,
        endTime: 115n,
        sourceLabels: ["a=1"],
        destLabels: ["b=2", "c=3"],
        packetsIn: 1n,
        packetsOut: 2n,
        bytesIn: 3n,
        bytesOut: 4n,
        numConnectionsStarted: 5n,
        numConnectionsCompleted: 6n,
        numConnectionsLive: 7n,
      },
    });
    expect(ok(flowFromUpdate(u))).toEqual({
      key: flowKey({
        sourceName: "s",
        sourceNamespace: "sn",
        sourceType: 2,
        destName: "d",
        destNamespace: "dn",
        destType: 4,
        destPort: 443,
        destServiceName: "svc",
        destServiceNamespace: "svcns",
        destServicePortName: "https",
        destServicePort: 8443,
        proto: "udp",
        reporter: 2,
        action: 2,
        enforced: [],
        pending: [],
      }),
      startSec: 100,
      endSec: 115,
      sourceLabels: ["a=1"],
      destLabels: ["b=2", "c=3"],
      counters: [1, 2, 3, 4, 5, 6, 7],
    });
  });

  it("accepts counters up to 2^53 − 1 exactly", () => {
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    const f = ok(flowFromUpdate(flowUpdate({ flow: { bytesIn: max, numConnectionsLive: max, packetsIn: 0n } })));
    expect(f.counters).toEqual(counterArray({ bytesIn: Number.MAX_SAFE_INTEGER, numConnectionsLive: Number.MAX_SAFE_INTEGER, packetsIn: 0 }));
  });

  it("accepts an EndOfTier hit with a trigger and carries the trigger through", () => {
    const trigger = protoHit({ kind: PolicyKind.CalicoNetworkPolicy, name: "web", namespace: "ns1", tier: "app" });
    const eot = protoHit({ kind: PolicyKind.EndOfTier, name: "", namespace: "", tier: "app", action: 2, policyIndex: 0n, ruleIndex: -1n, trigger });
    const f = ok(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [eot] } } })));
    expect(f.key.enforced).toEqual([
      policyHit({
        kind: PolicyKind.EndOfTier,
        name: "",
        namespace: "",
        tier: "app",
        action: 2,
        ruleIndex: -1,
        trigger: policyHit({ kind: PolicyKind.CalicoNetworkPolicy, name: "web", namespace: "ns1", tier: "app" }),
      }),
    ]);
  });

  it("does not require a trigger on a nested trigger of kind EndOfTier", () => {
    const inner = protoHit({ kind: PolicyKind.EndOfTier });
    const eot = protoHit({ kind: PolicyKind.EndOfTier, trigger: inner });
    expect(reason(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [eot] } } })))).toBe("ok");
  });
});

describe("flowFromUpdate: canonical hit order", () => {
  const h = (name: string, policyIndex: bigint) => protoHit({ name, policyIndex });

  it("stable-sorts enforced and pending hits by policy_index, separately", () => {
    const f = ok(
      flowFromUpdate(
        flowUpdate({
          key: {
            policies: {
              enforcedPolicies: [h("c", 2n), h("a", 0n), h("b1", 1n), h("b2", 1n)],
              pendingPolicies: [h("y", 5n), h("x", 3n)],
            },
          },
        }),
      ),
    );
    expect(f.key.enforced.map((x) => x.name)).toEqual(["a", "b1", "b2", "c"]);
    expect(f.key.pending.map((x) => x.name)).toEqual(["x", "y"]);
  });

  it("gives equal traces in another order the same key, and keeps ties in received order", () => {
    const a = ok(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [h("a", 0n), h("b", 1n), h("c", 2n)] } } })));
    const b = ok(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [h("c", 2n), h("b", 1n), h("a", 0n)] } } })));
    expect(sig(a)).toBe(sig(b));
    // Hits with the same policy_index in another order are a different trace (stable sort).
    const t1 = ok(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [h("p", 0n), h("q", 0n)] } } })));
    const t2 = ok(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [h("q", 0n), h("p", 0n)] } } })));
    expect(t1.key.enforced.map((x) => x.name)).toEqual(["p", "q"]);
    expect(t2.key.enforced.map((x) => x.name)).toEqual(["q", "p"]);
  });

  it("gives an absent trace and an empty PolicyTrace the same key", () => {
    const absent = ok(flowFromUpdate(flowUpdate({ key: { policies: undefined } })));
    const empty = ok(flowFromUpdate(flowUpdate({ key: { policies: {} } })));
    expect(absent.key.enforced).toEqual([]);
    expect(absent.key.pending).toEqual([]);
    expect(sig(absent)).toBe(sig(empty));
  });

  it("keeps enforced and pending traces apart", () => {
    const e = ok(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [h("p", 0n)] } } })));
    const p = ok(flowFromUpdate(flowUpdate({ key: { policies: { pendingPolicies: [h("p", 0n)] } } })));
    expect(sig(e)).not.toBe(sig(p));
  });

  it("sortHits returns already-sorted input as is", () => {
    const hits = [policyHit({ policyIndex: 0 }), policyHit({ policyIndex: 0, name: "x" }), policyHit({ policyIndex: 3 })];
    expect(sortHits(hits)).toBe(hits);
  });
});

describe("flowFromUpdate: malformed updates", () => {
  it("no flow → missing_flow", () => {
    expect(reason(flowFromUpdate(create(FlowUpdateSchema, {})))).toBe("missing_flow");
  });

  it("no key → missing_key", () => {
    expect(reason(flowFromUpdate(flowUpdate({ flow: { Key: undefined } })))).toBe("missing_key");
    expect(reason(flowFromProto(create(FlowSchema, {})))).toBe("missing_key");
  });

  it("EndOfTier without trigger → end_of_tier_without_trigger, enforced or pending", () => {
    const eot = protoHit({ kind: PolicyKind.EndOfTier, ruleIndex: -1n });
    expect(reason(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [protoHit(), eot] } } })))).toBe(
      "end_of_tier_without_trigger",
    );
    expect(reason(flowFromUpdate(flowUpdate({ key: { policies: { pendingPolicies: [eot] } } })))).toBe("end_of_tier_without_trigger");
  });

  it("a negative counter → negative_counter, for each of the seven", () => {
    for (const field of [
      "packetsIn",
      "packetsOut",
      "bytesIn",
      "bytesOut",
      "numConnectionsStarted",
      "numConnectionsCompleted",
      "numConnectionsLive",
    ] as const) {
      expect(reason(flowFromUpdate(flowUpdate({ flow: { [field]: -1n } }))), field).toBe("negative_counter");
    }
  });

  it("a counter of 2^53 or more → counter_too_large", () => {
    expect(reason(flowFromUpdate(flowUpdate({ flow: { bytesOut: 2n ** 53n } })))).toBe("counter_too_large");
    expect(reason(flowFromUpdate(flowUpdate({ flow: { packetsIn: 2n ** 63n - 1n } })))).toBe("counter_too_large");
  });

  it("an int64 key or time field that a number cannot hold → invalid_number", () => {
    expect(reason(flowFromUpdate(flowUpdate({ key: { destPort: 2n ** 60n } })))).toBe("invalid_number");
    expect(reason(flowFromUpdate(flowUpdate({ flow: { startTime: -(2n ** 60n) } })))).toBe("invalid_number");
    expect(reason(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [protoHit({ ruleIndex: 2n ** 55n })] } } })))).toBe(
      "invalid_number",
    );
  });

  it("a trigger chain nested absurdly deep → trace_too_deep", () => {
    let hit = protoHit({ kind: PolicyKind.CalicoNetworkPolicy });
    for (let i = 0; i < 20; i++) hit = protoHit({ kind: PolicyKind.EndOfTier, trigger: hit });
    expect(reason(flowFromUpdate(flowUpdate({ key: { policies: { enforcedPolicies: [hit] } } })))).toBe("trace_too_deep");
  });
});

describe("keyToProto / rowToProto", () => {
  it("round-trips a key with a trace, trigger included", () => {
    const trigger = protoHit({ name: "web", namespace: "ns1", tier: "app" });
    const u = flowUpdate({
      key: {
        destServicePort: 8443n,
        policies: {
          enforcedPolicies: [protoHit({ policyIndex: 1n, name: "b" }), protoHit({ kind: PolicyKind.EndOfTier, policyIndex: 0n, ruleIndex: -1n, trigger })],
          pendingPolicies: [protoHit({ name: "staged", kind: PolicyKind.StagedNetworkPolicy })],
        },
      },
    });
    const f = ok(flowFromUpdate(u));
    const back = ok(flowFromProto(create(FlowSchema, { Key: keyToProto(f.key) })));
    expect(back.key).toEqual(f.key);
    const proto = keyToProto(f.key);
    expect(proto.policies!.enforcedPolicies.map((h) => h.policyIndex)).toEqual([0n, 1n]);
    expect(proto.policies!.enforcedPolicies[0]!.trigger!.name).toBe("web");
  });

  it("leaves policies absent for a key without hits", () => {
    expect(keyToProto(flowKey({ enforced: [], pending: [] })).policies).toBeUndefined();
  });

  it("converts a row with its id, times, labels and counters", () => {
    const r = rowToProto({
      id: 42,
      key: flowKey(),
      startSec: 900,
      endSec: 960,
      sourceLabels: ["a=1"],
      destLabels: [],
      counters: [1, 2, 3, 4, 5, 6, Number.MAX_SAFE_INTEGER],
    });
    expect(r.id).toBe(42n);
    expect(r.flow!.startTime).toBe(900n);
    expect(r.flow!.endTime).toBe(960n);
    expect(r.flow!.sourceLabels).toEqual(["a=1"]);
    expect(r.flow!.destLabels).toEqual([]);
    expect([r.flow!.packetsIn, r.flow!.packetsOut, r.flow!.bytesIn, r.flow!.bytesOut]).toEqual([1n, 2n, 3n, 4n]);
    expect([r.flow!.numConnectionsStarted, r.flow!.numConnectionsCompleted, r.flow!.numConnectionsLive]).toEqual([
      5n,
      6n,
      BigInt(Number.MAX_SAFE_INTEGER),
    ]);
    expect(r.flow!.Key!.sourceName).toBe("client-*");
  });
});
