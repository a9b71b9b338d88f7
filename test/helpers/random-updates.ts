import { create } from "@bufbuild/protobuf";
import { FlowUpdateSchema, PolicyHitSchema, type FlowUpdate, type PolicyHit } from "../../src/gen/goldmane/api_pb.js";

/** A small seeded PRNG (mulberry32) so failures reproduce. */
export function prng(seed: number) {
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

export function randomHit(rnd: () => number, depth: number): PolicyHit {
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

/** A FlowUpdate with random, often edge-case, contents (every malformed reason occurs). */
export function randomUpdate(rnd: () => number): FlowUpdate {
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

