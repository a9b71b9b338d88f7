import { isIP } from "node:net";

/** The parts of a Pod the index needs (a structural subset of `V1Pod`). */
export interface PodLike {
  metadata?: { name?: string; namespace?: string; generateName?: string; labels?: Record<string, string>; uid?: string };
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { podIP?: string; podIPs?: { ip: string }[]; phase?: string };
}

/** The parts of a Service the index needs (a structural subset of `V1Service`). */
export interface ServiceLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { clusterIP?: string; clusterIPs?: string[]; ports?: { name?: string; port: number; protocol?: string }[] };
}

/** The parts of a Node the index needs (a structural subset of `V1Node`). */
export interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { addresses?: { type: string; address: string }[] };
}

/** A pod or node an address belongs to. */
export interface EndpointIdentity {
  kind: "pod" | "node";
  /** Pod name, or node name. */
  name: string;
  /** Pod generateName ("" when none); empty for nodes. */
  generateName: string;
  /** Pod namespace; empty for nodes. */
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** The node a pod runs on, or the node itself. */
  nodeName: string;
}

/** One port of a Service. */
export interface ServicePort {
  name: string;
  port: number;
  /** Upper case, as Kubernetes spells it ("TCP", "UDP", "SCTP"). */
  protocol: string;
}

/** A Service an address (its ClusterIP) belongs to. */
export interface ServiceIdentity {
  name: string;
  namespace: string;
  ports: readonly ServicePort[];
}

interface PodEntry {
  identity: EndpointIdentity;
  /** Unix seconds when the pod was deleted; undefined while it exists. */
  deletedSec?: number;
}

/**
 * Normalises an address for lookup: RFC 5952 lower-case text for IPv6, IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`) as plain IPv4 (reference offload-frostfs.md §3.4). Returns "" for text that is
 * not an address.
 */
export function normalizeAddress(text: string): string {
  const t = text.trim().toLowerCase();
  const v = isIP(t);
  if (v === 4) return t;
  if (v !== 6) return "";
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(t) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (mapped && isIP(mapped[1]!) === 4) return mapped[1]!;
  // URL canonicalisation gives RFC 5952 text for IPv6 hosts.
  try {
    const canon = new URL(`http://[${t}]/`).hostname.slice(1, -1);
    const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canon);
    if (m) {
      const hi = parseInt(m[1]!, 16);
      const lo = parseInt(m[2]!, 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
    return canon;
  } catch {
    return "";
  }
}

const podKey = (p: PodLike) => `${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`;

function podAddresses(p: PodLike): string[] {
  const out = new Set<string>();
  if (p.status?.podIP) out.add(normalizeAddress(p.status.podIP));
  for (const a of p.status?.podIPs ?? []) out.add(normalizeAddress(a.ip));
  out.delete("");
  return [...out];
}

function nodeAddresses(n: NodeLike): string[] {
  const out = new Set<string>();
  for (const a of n.status?.addresses ?? []) {
    if (a.type === "InternalIP" || a.type === "ExternalIP") out.add(normalizeAddress(a.address));
  }
  out.delete("");
  return [...out];
}

function serviceAddresses(s: ServiceLike): string[] {
  const out = new Set<string>();
  const ips = [s.spec?.clusterIP ?? "", ...(s.spec?.clusterIPs ?? [])];
  // Headless services ("None") have no VIP: their traffic goes straight to pods.
  for (const ip of ips) if (ip && ip !== "None") out.add(normalizeAddress(ip));
  out.delete("");
  return [...out];
}

/**
 * Address → Kubernetes object index, fed by informer events (adds, updates, deletes). Pure: time
 * comes in as arguments. Recently deleted pods are remembered for `deletedPodGraceSec` so that a
 * session polled after its pod went away still resolves (reference §3.3: "keep recently deleted
 * pods"). Host-network pods share the node's address; the node wins for those addresses, as in
 * Felix. `onChange` is told every address whose answer may have changed (to drop cache entries).
 */
export class IpIndex {
  private readonly pods = new Map<string, PodEntry>();
  private readonly podAddrs = new Map<string, string[]>();
  /** address → pod keys holding it, newest last. */
  private readonly byPodIp = new Map<string, string[]>();
  private readonly nodes = new Map<string, EndpointIdentity>();
  private readonly nodeAddrs = new Map<string, string[]>();
  private readonly byNodeIp = new Map<string, string>();
  private readonly services = new Map<string, ServiceIdentity>();
  private readonly serviceAddrs = new Map<string, string[]>();
  private readonly byServiceIp = new Map<string, string>();

  constructor(
    private readonly deletedPodGraceSec: number,
    private readonly onChange: (address: string) => void = () => undefined,
  ) {}

  /** Adds or replaces a pod (informer add/update). A host-network pod is not indexed by address. */
  upsertPod(p: PodLike): void {
    const key = podKey(p);
    this.unindexPod(key);
    const md = p.metadata ?? {};
    const identity: EndpointIdentity = {
      kind: "pod",
      name: md.name ?? "",
      generateName: md.generateName ?? "",
      namespace: md.namespace ?? "",
      labels: { ...(md.labels ?? {}) },
      nodeName: p.spec?.nodeName ?? "",
    };
    this.pods.set(key, { identity });
    const addrs = p.spec?.hostNetwork ? [] : podAddresses(p);
    this.podAddrs.set(key, addrs);
    for (const a of addrs) {
      const list = this.byPodIp.get(a) ?? [];
      list.push(key);
      this.byPodIp.set(a, list);
      this.onChange(a);
    }
  }

  /** Marks a pod deleted at `nowSec`; it still answers lookups until the grace period ends. */
  deletePod(p: PodLike, nowSec: number): void {
    const entry = this.pods.get(podKey(p));
    if (!entry) return;
    entry.deletedSec = nowSec;
    for (const a of this.podAddrs.get(podKey(p)) ?? []) this.onChange(a);
  }

  /** Forgets pods deleted more than the grace period before `nowSec`. */
  expire(nowSec: number): void {
    for (const [key, entry] of this.pods) {
      if (entry.deletedSec !== undefined && nowSec - entry.deletedSec > this.deletedPodGraceSec) this.unindexPod(key);
    }
  }

  private unindexPod(key: string): void {
    for (const a of this.podAddrs.get(key) ?? []) {
      const list = (this.byPodIp.get(a) ?? []).filter((k) => k !== key);
      if (list.length) this.byPodIp.set(a, list);
      else this.byPodIp.delete(a);
      this.onChange(a);
    }
    this.podAddrs.delete(key);
    this.pods.delete(key);
  }

  upsertNode(n: NodeLike): void {
    const name = n.metadata?.name ?? "";
    this.deleteNode(n);
    this.nodes.set(name, { kind: "node", name, generateName: "", namespace: "", labels: { ...(n.metadata?.labels ?? {}) }, nodeName: name });
    const addrs = nodeAddresses(n);
    this.nodeAddrs.set(name, addrs);
    for (const a of addrs) {
      this.byNodeIp.set(a, name);
      this.onChange(a);
    }
  }

  deleteNode(n: NodeLike): void {
    const name = n.metadata?.name ?? "";
    for (const a of this.nodeAddrs.get(name) ?? []) {
      if (this.byNodeIp.get(a) === name) this.byNodeIp.delete(a);
      this.onChange(a);
    }
    this.nodeAddrs.delete(name);
    this.nodes.delete(name);
  }

  upsertService(s: ServiceLike): void {
    const key = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
    this.deleteService(s);
    this.services.set(key, {
      name: s.metadata?.name ?? "",
      namespace: s.metadata?.namespace ?? "",
      ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name ?? "", port: p.port, protocol: (p.protocol ?? "TCP").toUpperCase() })),
    });
    const addrs = serviceAddresses(s);
    this.serviceAddrs.set(key, addrs);
    for (const a of addrs) {
      this.byServiceIp.set(a, key);
      this.onChange(a);
    }
  }

  deleteService(s: ServiceLike): void {
    const key = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
    for (const a of this.serviceAddrs.get(key) ?? []) {
      if (this.byServiceIp.get(a) === key) this.byServiceIp.delete(a);
      this.onChange(a);
    }
    this.serviceAddrs.delete(key);
    this.services.delete(key);
  }

  /**
   * The node or pod holding `address` (normalised text). A live pod beats a deleted one; among
   * deleted pods the most recently deleted wins. Nodes win over pods (host networking).
   */
  endpoint(address: string): EndpointIdentity | undefined {
    const node = this.byNodeIp.get(address);
    if (node !== undefined) return this.nodes.get(node);
    const keys = this.byPodIp.get(address);
    if (!keys) return undefined;
    let best: PodEntry | undefined;
    for (const k of keys) {
      const e = this.pods.get(k);
      if (!e) continue;
      if (!best) best = e;
      else if (e.deletedSec === undefined) best = e;
      else if (best.deletedSec !== undefined && e.deletedSec >= best.deletedSec) best = e;
    }
    return best?.identity;
  }

  /** The Service whose ClusterIP is `address`, if any. */
  service(address: string): ServiceIdentity | undefined {
    const key = this.byServiceIp.get(address);
    return key === undefined ? undefined : this.services.get(key);
  }

  /** Sizes, for logs and tests. */
  get size(): { pods: number; nodes: number; services: number } {
    return { pods: this.pods.size, nodes: this.nodes.size, services: this.services.size };
  }
}
