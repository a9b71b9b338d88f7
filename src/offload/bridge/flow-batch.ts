import { create } from "@bufbuild/protobuf";
import { FlowSchema, FlowUpdateSchema, type FlowUpdate } from "../../gen/goldmane/api_pb.js";
import { keyToProto } from "../../model/convert.js";
import type { MappedFlow } from "./flow-mapper.js";

/** The largest int64: uint64 sums beyond it are clamped when encoded (reference §3.1). */
export const INT64_MAX = (1n << 63n) - 1n;

const clamp = (v: bigint) => (v > INT64_MAX ? INT64_MAX : v);

/**
 * Sums the Flows of one node and one interval by FlowKey, intersecting labels. The aggregator
 * deduplicates (node, key, start, end) claims (DESIGN.md §3), so two sessions with the same key in
 * one interval must reach it as one Flow, as a node agent aggregates before sending.
 */
export function mergeFlows(flows: Iterable<MappedFlow>): MappedFlow[] {
  const byKey = new Map<string, MappedFlow>();
  for (const f of flows) {
    const k = JSON.stringify(f.key);
    const m = byKey.get(k);
    if (!m) {
      byKey.set(k, { ...f, sourceLabels: [...f.sourceLabels], destLabels: [...f.destLabels], sourceIps: [...f.sourceIps], destIps: [...f.destIps] });
      continue;
    }
    m.packetsIn += f.packetsIn;
    m.packetsOut += f.packetsOut;
    m.bytesIn += f.bytesIn;
    m.bytesOut += f.bytesOut;
    m.started += f.started;
    m.completed += f.completed;
    m.live += f.live;
    m.sourceLabels = m.sourceLabels.filter((l) => f.sourceLabels.includes(l));
    m.destLabels = m.destLabels.filter((l) => f.destLabels.includes(l));
    m.sourceIps = unionCapped(m.sourceIps, f.sourceIps);
    m.destIps = unionCapped(m.destIps, f.destIps);
  }
  return [...byKey.values()];
}

/** At most this many IPs per side of a Flow (upstream PR #13063); the server caps again. */
export const MAX_FLOW_IPS = 100;

function unionCapped(a: string[], b: readonly string[]): string[] {
  if (a.length >= MAX_FLOW_IPS) return a;
  for (const ip of b) if (!a.includes(ip) && a.length < MAX_FLOW_IPS) a.push(ip);
  return a;
}

/** Encodes a merged Flow for the window [startSec, endSec) as a FlowUpdate. */
export function toFlowUpdate(f: MappedFlow, startSec: number, endSec: number): FlowUpdate {
  const k = f.key;
  return create(FlowUpdateSchema, {
    flow: create(FlowSchema, {
      // Offload carries no policy information (reference §3.3): an empty trace.
      Key: keyToProto({ ...k, enforced: [], pending: [] }),
      startTime: BigInt(startSec),
      endTime: BigInt(endSec),
      sourceLabels: f.sourceLabels,
      destLabels: f.destLabels,
      sourceIps: f.sourceIps,
      destIps: f.destIps,
      packetsIn: clamp(f.packetsIn),
      packetsOut: clamp(f.packetsOut),
      bytesIn: clamp(f.bytesIn),
      bytesOut: clamp(f.bytesOut),
      numConnectionsStarted: clamp(f.started),
      numConnectionsCompleted: clamp(f.completed),
      numConnectionsLive: clamp(f.live),
    }),
  });
}
