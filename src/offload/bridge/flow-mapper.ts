import { Action, EndpointType, Reporter } from "../../gen/goldmane/api_pb.js";
import type { EndpointIdentity, Resolution, Resolver } from "../../kube/index.js";
import type { SessionDelta } from "./session-tracker.js";
import { ActionType, type SessionDescriptor } from "./types.js";

/** A mapped Flow before encoding: key fields, labels and BigInt counters. */
export interface MappedFlow {
  key: {
    sourceName: string;
    sourceNamespace: string;
    sourceType: EndpointType;
    destName: string;
    destNamespace: string;
    destType: EndpointType;
    destPort: number;
    destServiceName: string;
    destServiceNamespace: string;
    destServicePortName: string;
    destServicePort: number;
    proto: string;
    reporter: Reporter;
    action: Action;
  };
  sourceLabels: string[];
  destLabels: string[];
  /** The session's addresses (`Flow.source_ips` / `dest_ips`, upstream PR #13063). */
  sourceIps: string[];
  destIps: string[];
  packetsIn: bigint;
  packetsOut: bigint;
  bytesIn: bigint;
  bytesOut: bigint;
  started: bigint;
  completed: bigint;
  live: bigint;
}

/** Why a session produced no Flow. */
export type MapSkip = "unknown_action";

/** What the mapper needs besides the session. */
export interface MapContext {
  /** The device's node name: decides the reporter (reference §3.3). */
  nodeName: string;
  resolver: Resolver;
}

/** `pvt` for RFC 1918 IPv4 and IPv6 ULA (fc00::/7), else `pub` (reference §3.3, brief for IPv6). */
export function networkName(address: string): "pub" | "pvt" {
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(address);
  if (v4) {
    const a = Number(v4[1]);
    const b = Number(v4[2]);
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ? "pvt" : "pub";
  }
  return /^f[cd][0-9a-f]{0,2}:/.test(address) ? "pvt" : "pub";
}

/** Felix's protocol names: tcp, udp, else the decimal number (reference §3.3). */
export function protoName(n: number): string {
  return n === 6 ? "tcp" : n === 17 ? "udp" : String(n);
}

/** DROP → Deny; FORWARD, MIRROR, SNOOP, PROXY → Allow; anything else → undefined (skipped). */
export function mapAction(n: number): Action | undefined {
  if (n === ActionType.DROP) return Action.Deny;
  if (n >= ActionType.FORWARD && n <= ActionType.PROXY) return Action.Allow;
  return undefined;
}

/** `key=value` labels, sorted, `projectcalico.org/*` skipped as Felix does. */
export function labelStrings(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels)
    .filter(([k]) => !k.startsWith("projectcalico.org/"))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}

interface Side {
  type: EndpointType;
  name: string;
  namespace: string;
  labels: string[];
  nodeName: string;
}

function side(r: Resolution, useEndpoint = true): Side {
  const e: EndpointIdentity | undefined = useEndpoint ? r.endpoint : undefined;
  if (e?.kind === "pod") {
    return { type: EndpointType.WorkloadEndpoint, name: e.generateName ? `${e.generateName}*` : e.name, namespace: e.namespace, labels: labelStrings(e.labels), nodeName: e.nodeName };
  }
  if (e?.kind === "node") return { type: EndpointType.HostEndpoint, name: e.name, namespace: "-", labels: labelStrings(e.labels), nodeName: e.nodeName };
  return { type: EndpointType.Network, name: networkName(r.address), namespace: "-", labels: [], nodeName: "" };
}

/**
 * Maps one session's interval delta to a Flow (reference offload-frostfs.md §3.3):
 * source and destination through Kubernetes (pod → WorkloadEndpoint `generateName*`, node →
 * HostEndpoint, else Network `pub`/`pvt`); a Service ClusterIP destination fills the service fields
 * and stays the VIP (Network); a PROXY session's identity comes from its backend address, its
 * service from the original destination. Reporter: `Dst` when the destination is on the device's
 * node, `Src` when only the source is, else `Dst`; packets and bytes are counted from that side.
 */
export function mapSession(desc: SessionDescriptor, delta: SessionDelta, ctx: MapContext): MappedFlow | MapSkip {
  const action = mapAction(desc.action);
  if (action === undefined) return "unknown_action";
  const src = side(ctx.resolver.resolve(desc.sourceIp));
  const original = ctx.resolver.resolve(desc.destinationIp);
  const backend = desc.action === ActionType.PROXY && desc.proxyDestinationIp ? ctx.resolver.resolve(desc.proxyDestinationIp) : undefined;
  const service = original.service;
  let dst: Side;
  if (backend) dst = side(backend);
  else dst = side(original, service === undefined);
  const servicePort = service?.ports.find((p) => p.port === desc.destinationPort && p.protocol === protoName(desc.protocol).toUpperCase()) ?? service?.ports.find((p) => p.port === desc.destinationPort);
  const dstLocal = dst.nodeName !== "" && dst.nodeName === ctx.nodeName;
  const srcLocal = src.nodeName !== "" && src.nodeName === ctx.nodeName;
  const reporter = !dstLocal && srcLocal ? Reporter.Src : Reporter.Dst;
  // in = source → destination as added; out = replies (reference §2.8).
  const forward = { packets: delta.inPackets, bytes: delta.inBytes };
  const replies = { packets: delta.outPackets, bytes: delta.outBytes };
  const outSide = reporter === Reporter.Src ? forward : replies;
  const inSide = reporter === Reporter.Src ? replies : forward;
  return {
    key: {
      sourceName: src.name,
      sourceNamespace: src.namespace,
      sourceType: src.type,
      destName: dst.name,
      destNamespace: dst.namespace,
      destType: dst.type,
      destPort: desc.destinationPort,
      destServiceName: service ? service.name : "-",
      destServiceNamespace: service ? service.namespace : "-",
      destServicePortName: service ? servicePort?.name || "-" : "-",
      destServicePort: service ? desc.destinationPort : 0,
      proto: protoName(desc.protocol),
      reporter,
      action,
    },
    sourceLabels: src.labels,
    destLabels: dst.labels,
    // The destination address is the one the identity came from: a PROXY session's backend.
    sourceIps: [desc.sourceIp],
    destIps: [backend && desc.proxyDestinationIp ? desc.proxyDestinationIp : desc.destinationIp],
    packetsIn: inSide.packets,
    packetsOut: outSide.packets,
    bytesIn: inSide.bytes,
    bytesOut: outSide.bytes,
    started: BigInt(delta.started),
    completed: BigInt(delta.completed),
    live: BigInt(delta.live),
  };
}
