import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FlowUpdateSchema, PolicyHitSchema } from "../../src/gen/goldmane/api_pb.js";

/** A seeded PRNG (mulberry32), so every run measures the same workload. */
export function prng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type HitInit = Exclude<MessageInitShape<typeof PolicyHitSchema>, { $typeName: string }>;

export interface WorkloadKey {
  sourceName: string;
  sourceNamespace: string;
  destName: string;
  destNamespace: string;
  destPort: bigint;
  proto: string;
  reporter: number;
  action: number;
  sourceLabels: string[];
  destLabels: string[];
  enforced: HitInit[];
  pending: HitInit[];
}

/**
 * Realistic flow keys: a cluster of `namespaces` namespaces with workloads, 5–10 labels per side,
 * and policy traces of 1–3 hits drawn from a pool of policies (goldmane-spec §9.3's generator,
 * larger).
 */
export function workloadKeys(count: number, seed = 1): WorkloadKey[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const namespaces = Array.from({ length: 20 }, (_, i) => `team-${i}`);
  const tiers = ["security", "platform", "application", "default"];
  const policies = Array.from({ length: 40 }, (_, i) => ({
    kind: pick([1, 2, 6, 3]),
    namespace: pick(namespaces),
    name: `policy-${i}`,
    tier: pick(tiers),
  }));
  const labels = (app: string) => {
    const n = 5 + Math.floor(rnd() * 6);
    const out = [`app=${app}`, "app.kubernetes.io/managed-by=helm", `version=v${1 + Math.floor(rnd() * 3)}`];
    for (let i = out.length; i < n; i++) out.push(`label-${i}=${pick(["a", "b", "c", "d"])}`);
    return out;
  };
  const keys: WorkloadKey[] = [];
  for (let i = 0; i < count; i++) {
    const src = `svc-${Math.floor(rnd() * 400)}`;
    const dst = `svc-${Math.floor(rnd() * 400)}`;
    const hits = 1 + Math.floor(rnd() * 3);
    const enforced = Array.from({ length: hits }, (_, j) => {
      const p = pick(policies);
      return { ...p, action: j === hits - 1 ? pick([1, 1, 1, 2]) : 3, policyIndex: BigInt(j), ruleIndex: BigInt(Math.floor(rnd() * 4)) };
    });
    keys.push({
      sourceName: `${src}-*`,
      sourceNamespace: pick(namespaces),
      destName: `${dst}-*`,
      destNamespace: pick(namespaces),
      destPort: BigInt(pick([80, 443, 8080, 5432, 6379, 9090]) + (i % 7)),
      proto: pick(["tcp", "tcp", "tcp", "udp"]),
      reporter: pick([1, 2]),
      action: enforced[enforced.length - 1]!.action,
      sourceLabels: labels(src),
      destLabels: labels(dst),
      enforced,
      pending: rnd() < 0.2 ? [{ ...pick(policies), kind: 3, action: 2, policyIndex: 0n, ruleIndex: 0n }] : [],
    });
  }
  return keys;
}

/** Encodes one FlowUpdate of a workload key. */
export function encodeUpdate(k: WorkloadKey, startSec: number, endSec: number, packetsIn = 1n): Uint8Array {
  return toBinary(
    FlowUpdateSchema,
    create(FlowUpdateSchema, {
      flow: {
        Key: {
          sourceName: k.sourceName,
          sourceNamespace: k.sourceNamespace,
          sourceType: 1,
          destName: k.destName,
          destNamespace: k.destNamespace,
          destType: 1,
          destPort: k.destPort,
          proto: k.proto,
          reporter: k.reporter,
          action: k.action,
          policies: { enforcedPolicies: k.enforced, pendingPolicies: k.pending },
        },
        startTime: BigInt(startSec),
        endTime: BigInt(endSec),
        sourceLabels: k.sourceLabels,
        destLabels: k.destLabels,
        packetsIn,
        packetsOut: 3n,
        bytesIn: 1200n,
        bytesOut: 800n,
        numConnectionsStarted: 1n,
        numConnectionsCompleted: 1n,
        numConnectionsLive: 0n,
      },
    }),
  );
}

/** A pre-encoded FlowUpdate whose start_time and end_time can be rewritten in place. */
export interface PatchableUpdate {
  readonly bytes: Uint8Array;
  /** Offsets of the 5-byte start_time and end_time varints. */
  readonly startOffset: number;
  readonly endOffset: number;
}

const START_SENTINEL = 1_800_000_000;
const END_SENTINEL = 1_800_000_001;

/**
 * Writes `v` (0 ≤ v < 2^35) as a 5-byte varint at `off`: a non-minimal encoding for small values,
 * which protobuf readers accept, so every time fits the same template.
 */
export function patchVarint5(buf: Uint8Array, off: number, v: number): void {
  for (let i = 0; i < 4; i++) {
    buf[off + i] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[off + 4] = v & 0x7f;
}

function findOnce(hay: Uint8Array, needle: Uint8Array): number {
  const b = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  const at = b.indexOf(needle);
  if (at < 0 || b.indexOf(needle, at + 1) >= 0) throw new Error("time sentinel not found exactly once");
  return at;
}

/**
 * Encodes a workload key once so that a benchmark can send it for any bucket by patching its
 * times (STYLE.md §10: the load, not the encoder, is what is measured).
 */
export function patchableUpdate(k: WorkloadKey, packetsIn = 1n): PatchableUpdate {
  const bytes = encodeUpdate(k, START_SENTINEL, END_SENTINEL, packetsIn);
  const s = new Uint8Array(5);
  patchVarint5(s, 0, START_SENTINEL);
  const e = new Uint8Array(5);
  patchVarint5(e, 0, END_SENTINEL);
  return { bytes, startOffset: findOnce(bytes, s), endOffset: findOnce(bytes, e) };
}
