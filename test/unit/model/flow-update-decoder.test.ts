import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { FlowUpdateSchema, PolicyHitSchema, type FlowUpdate, type PolicyHit } from "../../../src/gen/goldmane/api_pb.js";
import { flowFromUpdate } from "../../../src/model/convert.js";
import { DecodeError, decodeFlowUpdate } from "../../../src/model/flow-update-decoder.js";

/** A small seeded PRNG (mulberry32) so failures reproduce. */
function prng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ["", "pub", "pvt", "default", "kube-system", "nginx-*", "ü-ñ", "🚀-emoji", "\uFEFFbom", "a,b"];
const INT64S = [0n, 1n, 80n, 443n, -1n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n - 1n), -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), 1_700_000_000n];

function randomHit(rnd: () => number, depth: number): PolicyHit {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  return create(PolicyHitSchema, {
    kind: pick([0, 1, 2, 3, 6, 9, 10, 11, 42]),
    namespace: pick(STRINGS),
    name: pick(STRINGS),
    tier: pick(STRINGS),
    action: pick([0, 1, 2, 3]),
    policyIndex: rnd() < 0.9 ? BigInt(Math.floor(rnd() * 5)) : pick(INT64S),
    ruleIndex: rnd() < 0.9 ? BigInt(Math.floor(rnd() * 5) - 1) : pick(INT64S),
    trigger: depth < 2 && rnd() < 0.5 ? randomHit(rnd, depth + 1) : undefined,
  });
}

function randomUpdate(rnd: () => number): FlowUpdate {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const counter = () => (rnd() < 0.9 ? BigInt(Math.floor(rnd() * 1e6)) : pick(INT64S));
  const hits = () => Array.from({ length: Math.floor(rnd() * 4) }, () => randomHit(rnd, 0));
  return create(FlowUpdateSchema, {
    flow:
      rnd() < 0.03
        ? undefined
        : {
            Key:
              rnd() < 0.03
                ? undefined
                : {
                    sourceName: pick(STRINGS),
                    sourceNamespace: pick(STRINGS),
                    sourceType: pick([0, 1, 2, 3, 4, 99, -1]),
                    destName: pick(STRINGS),
                    destNamespace: pick(STRINGS),
                    destType: pick([0, 1, 4]),
                    destPort: rnd() < 0.9 ? BigInt(Math.floor(rnd() * 65536)) : pick(INT64S),
                    destServiceName: pick(STRINGS),
                    destServiceNamespace: pick(STRINGS),
                    destServicePortName: pick(STRINGS),
                    destServicePort: rnd() < 0.9 ? BigInt(Math.floor(rnd() * 65536)) : pick(INT64S),
                    proto: pick(["tcp", "udp", "icmp", "6", ""]),
                    reporter: pick([0, 1, 2]),
                    action: pick([0, 1, 2, 3]),
                    policies: rnd() < 0.2 ? undefined : { enforcedPolicies: hits(), pendingPolicies: hits() },
                  },
            startTime: rnd() < 0.95 ? BigInt(1_700_000_000 + Math.floor(rnd() * 3600)) : pick(INT64S),
            endTime: rnd() < 0.95 ? BigInt(1_700_000_000 + Math.floor(rnd() * 3600)) : pick(INT64S),
            sourceLabels: Array.from({ length: Math.floor(rnd() * 6) }, () => pick(["app=a", "tier=web", "x=ü", "z=1"])),
            destLabels: Array.from({ length: Math.floor(rnd() * 6) }, () => pick(["app=b", "k=v"])),
            packetsIn: counter(),
            packetsOut: counter(),
            bytesIn: counter(),
            bytesOut: counter(),
            numConnectionsStarted: counter(),
            numConnectionsCompleted: counter(),
            numConnectionsLive: counter(),
          },
  });
}

describe("decodeFlowUpdate", () => {
  it("agrees with protobuf-es + flowFromUpdate on 5000 generated updates", () => {
    const rnd = prng(42);
    const reasons = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const u = randomUpdate(rnd);
      const bytes = toBinary(FlowUpdateSchema, u);
      const expected = flowFromUpdate(fromBinary(FlowUpdateSchema, bytes));
      const actual = decodeFlowUpdate(bytes);
      expect(actual, `case ${i}`).toEqual(expected);
      reasons.add(expected.ok ? "ok" : expected.reason);
    }
    // The generator must reach every outcome, or the comparison proves little.
    expect([...reasons].sort()).toEqual(
      ["counter_too_large", "end_of_tier_without_trigger", "invalid_number", "missing_flow", "missing_key", "negative_counter", "ok"].sort(),
    );
  });

  it("decodes a slice of a larger buffer", () => {
    const bytes = toBinary(FlowUpdateSchema, randomUpdate(prng(7)));
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    expect(decodeFlowUpdate(padded, 5, 5 + bytes.length)).toEqual(decodeFlowUpdate(bytes));
  });

  it("merges a repeated message field and lets the last scalar win, like protobuf-es", () => {
    // FlowUpdate{ flow{Key{source_name:"a"}, start_time:5}, flow{Key{dest_name:"b"}, start_time:7} }
    const w = new BinaryWriter();
    w.tag(1, 2).fork().tag(1, 2).fork().tag(1, 2).string("a").join().tag(2, 0).int64(5).join();
    w.tag(1, 2).fork().tag(1, 2).fork().tag(4, 2).string("b").join().tag(2, 0).int64(7).join();
    w.tag(99, 2).bytes(new Uint8Array([1, 2, 3])); // unknown field
    const bytes = w.finish();
    const expected = flowFromUpdate(fromBinary(FlowUpdateSchema, bytes));
    expect(decodeFlowUpdate(bytes)).toEqual(expected);
    expect(expected.ok && expected.flow.key.sourceName === "a" && expected.flow.key.destName === "b" && expected.flow.startSec === 7).toBe(true);
  });

  it("rejects invalid encodings with DecodeError", () => {
    expect(() => decodeFlowUpdate(new Uint8Array([0x0a, 0x05, 0x01]))).toThrow(DecodeError); // length beyond end
    expect(() => decodeFlowUpdate(new Uint8Array([0x08, 0xff, 0xff]))).toThrow(DecodeError); // truncated varint
    expect(() => decodeFlowUpdate(new Uint8Array([0x0f]))).toThrow(DecodeError); // wire type 7
  });
});
