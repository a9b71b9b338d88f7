import type { Ipv4ByteOrder } from "../ip-address.js";
import type { Dialect } from "./types.js";

/** One polled device. */
export interface DeviceConfig {
  /** Base URL of its SessionTable (`http://` = h2c, `https://` = TLS), without bridge options. */
  url: string;
  /** Metric label and log name (host:port of the URL). */
  name: string;
  /** The node the device belongs to: the reporting node of its Flows. */
  node: string;
  dialect: Dialect;
  /** Drain `getClosedSessions` (v1 only): only when nothing else consumes the device's close records. */
  exclusive: boolean;
  /** Byte order of IPv4 fields in AddSession requests seen by the tap (reference §2.8). */
  ipv4Order: Ipv4ByteOrder;
  /** Serve the AddSession tap for this device on this port (0 = any); undefined = no tap. */
  tapPort?: number;
}

/** TLS and credentials for the collector stream. */
export interface CollectorAuth {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Session token (base64), sent in the `tributary-session-bin` header. */
  token?: string;
  /** Skip server certificate verification (the in-process loopback connection only). */
  insecureSkipVerify?: boolean;
}

/** The configuration of one bridge (CLI or inside `serve`). */
export interface BridgeConfig {
  devices: readonly DeviceConfig[];
  /** Base URL of the aggregator's FlowCollector. */
  collectorUrl: string;
  collectorAuth?: CollectorAuth;
  /** Poll period and Flow width, seconds; polls happen on multiples of it in Unix time. */
  intervalSec: number;
  /** How far back Flows are replayed after a reconnect (Felix: about 5 minutes). */
  replayHorizonSec: number;
  /** How long an ended session is remembered (not counted twice; late descriptors still map). */
  tombstoneTtlSec: number;
  /** How long a deleted pod still resolves (sessions polled after their pod went away). */
  deletedPodGraceSec: number;
  /** Kubeconfig path; "" = in-cluster if mounted, else no Kubernetes (everything is Network). */
  kubeconfig: string;
  /** Address the taps bind to. */
  tapHost: string;
  /** Entries of the resolution LRU cache. */
  resolverCacheSize: number;
  /** Per-call deadline towards devices. */
  deviceTimeoutMs: number;
}

/** Defaults of the optional settings. */
export const BRIDGE_DEFAULTS = {
  replayHorizonSec: 300,
  tombstoneTtlSec: 3600,
  deletedPodGraceSec: 3600,
  resolverCacheSize: 65_536,
  deviceTimeoutMs: 10_000,
  tapHost: "",
} as const;

/**
 * Parses a device spec: a SessionTable URL (`http://`/`grpc://` = h2c, `https://`/`grpcs://` =
 * TLS) with optional bridge options in its query string,
 * which are removed before the URL is used: `node=<name>` (default: the bridge's node),
 * `dialect=opi|v1`, `exclusive=true|false`, `ipv4=le|be`, `tap=<port>`. Example:
 * `http://10.0.0.5:9000?node=worker-1&dialect=v1&tap=9001`.
 */
export function parseDeviceSpec(spec: string, defaults: { node: string; dialect: Dialect; exclusive: boolean }): DeviceConfig {
  let url: URL;
  try {
    url = new URL(spec.trim());
  } catch {
    throw new Error(`device: not a URL, got "${spec}"`);
  }
  const scheme = { "http:": "http:", "https:": "https:", "grpc:": "http:", "grpcs:": "https:" }[url.protocol];
  if (!scheme) throw new Error(`device: must be http://, https://, grpc:// (h2c) or grpcs:// (TLS), got "${spec}"`);
  const q = url.searchParams;
  const known = new Set(["node", "dialect", "exclusive", "ipv4", "tap"]);
  for (const k of q.keys()) if (!known.has(k)) throw new Error(`device: unknown option "${k}" in "${spec}" (node, dialect, exclusive, ipv4, tap)`);
  const dialect = q.get("dialect") ?? defaults.dialect;
  if (dialect !== "opi" && dialect !== "v1") throw new Error(`device: dialect must be opi or v1, got "${dialect}"`);
  const exclusiveText = q.get("exclusive");
  if (exclusiveText !== null && exclusiveText !== "true" && exclusiveText !== "false") throw new Error(`device: exclusive must be true or false, got "${exclusiveText}"`);
  const ipv4 = q.get("ipv4") ?? "le";
  if (ipv4 !== "le" && ipv4 !== "be") throw new Error(`device: ipv4 must be le or be, got "${ipv4}"`);
  const tapText = q.get("tap");
  let tapPort: number | undefined;
  if (tapText !== null) {
    tapPort = Number(tapText);
    if (!/^\d+$/.test(tapText) || tapPort > 65535) throw new Error(`device: tap must be a port number, got "${tapText}"`);
  }
  const node = q.get("node") ?? defaults.node;
  if (node === "") throw new Error(`device: no node name for "${spec}" (set --node / OFFLOAD_NODE or ?node=)`);
  const base = `${scheme}//${url.host}${url.pathname}`.replace(/\/$/, "");
  return { url: base, name: url.host, node, dialect, exclusive: exclusiveText === null ? defaults.exclusive : exclusiveText === "true", ipv4Order: ipv4, tapPort };
}
