import type { AddressInfo } from "node:net";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { FlowUpdate } from "../../gen/goldmane/api_pb.js";
import { createKubeWatch, createResolver, IpIndex, loadKubeConfig, type KubeWatch, type Resolver } from "../../kube/index.js";
import { rateLimitedLog, type Logger } from "../../observability/logger.js";
import { parseSessionId } from "../session-id.js";
import { createCollectorStream, type CollectorStream } from "./collector-stream.js";
import type { BridgeConfig, DeviceConfig } from "./config.js";
import { createDeviceReader, DeviceGarbageError, type DeviceReader } from "./device-reader.js";
import { mergeFlows, toFlowUpdate } from "./flow-batch.js";
import { mapSession, type MappedFlow } from "./flow-mapper.js";
import { offloadBridgeMetrics, type OffloadBridgeMetrics } from "./metrics.js";
import { createSessionCatalog, type SessionCatalog } from "./session-catalog.js";
import { createSessionTap, type SessionTap } from "./session-tap.js";
import { SessionTracker, type PollOutcome } from "./session-tracker.js";
import type { SessionSnapshot } from "./types.js";

/** Dependencies of {@link createOffloadBridge}. */
export interface OffloadBridgeDeps {
  log: Logger;
  registry: Registry;
  /** Unix seconds; polls are aligned to multiples of the interval on this clock. */
  clock: { nowSec(): number };
  /** A ready KubeConfig (tests); otherwise `config.kubeconfig` / in-cluster / none. */
  kubeConfig?: KubeConfig;
  /** Transport to a device (default: gRPC over HTTP/2). */
  deviceTransport?: (device: DeviceConfig) => Transport;
  /** Transport to the collector (default: gRPC over HTTP/2 with `config.collectorAuth`). */
  collectorTransport?: () => Transport;
  /** Poll on a timer (default true); tests call {@link OffloadBridge.pollOnce} by hand. */
  autoPoll?: boolean;
}

/** What one device's poll did. */
export interface DevicePollResult {
  device: string;
  result: "ok" | "baseline" | "error";
  error?: string;
  outcome?: PollOutcome;
  flows: number;
}

/** The running bridge. */
export interface OffloadBridge {
  readonly catalog: SessionCatalog;
  readonly metrics: OffloadBridgeMetrics;
  /** Starts informers, collector streams, taps and (unless disabled) the poll timer. */
  start(): Promise<{ taps: { device: string; address: AddressInfo }[] }>;
  /** Polls every device for the interval ending at `endSec` (default: the last boundary). */
  pollOnce(endSec?: number): Promise<DevicePollResult[]>;
  /** Waits until every Flow sent so far has been receipted by the collector. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Resolves once the informers have listed (immediately without Kubernetes). */
  kubeSynced(): Promise<void>;
  stop(): Promise<void>;
}

interface DeviceState {
  config: DeviceConfig;
  reader: DeviceReader;
  tracker: SessionTracker;
  /** Final reads taken but not yet observed (a poll failed after a drain). */
  pendingFinals: SessionSnapshot[];
  busy: boolean;
  tap?: SessionTap;
}

/** How many unlisted known sessions one poll confirms with GetSession before calling them gone. */
const MAX_CONFIRMS = 256;

function errorReason(e: unknown): string {
  if (e instanceof DeviceGarbageError) return "garbage";
  if (e instanceof ConnectError) {
    if (e.code === Code.Unavailable) return "unavailable";
    if (e.code === Code.DeadlineExceeded) return "deadline";
    if (e.code === Code.Internal || e.code === Code.InvalidArgument) return "garbage";
    return "rpc";
  }
  return "rpc";
}

/**
 * The offload bridge (DESIGN.md §6, reference offload-frostfs.md §3): polls each device every
 * interval on interval boundaries, turns counter deltas into one Flow per session (summed per
 * FlowKey and node, since the aggregator deduplicates per node, key and window), resolves
 * addresses through Kubernetes informers, and sends the Flows through FlowCollector/Connect, one
 * stream per device node. A failing device is counted, logged rate-limited and retried at the
 * next poll; it never stops the others.
 */
export function createOffloadBridge(config: BridgeConfig, deps: OffloadBridgeDeps): OffloadBridge {
  const log = deps.log.child({ module: "offload-bridge" });
  const metrics = offloadBridgeMetrics(deps.registry);
  const nowSec = () => deps.clock.nowSec();
  const limited = rateLimitedLog(60_000);
  const catalog = createSessionCatalog({ ttlSec: config.tombstoneTtlSec });

  // Kubernetes: an index fed by informers, or nothing (every address becomes Network).
  let resolver: Resolver | undefined;
  const index = new IpIndex(config.deletedPodGraceSec, (a) => resolver?.invalidate(a));
  let kc = deps.kubeConfig;
  let kubeSource = kc ? "injected" : "none";
  if (!kc) {
    const loaded = loadKubeConfig(config.kubeconfig);
    kc = loaded.kc;
    kubeSource = loaded.source;
  }
  const kube: KubeWatch | undefined = kc
    ? createKubeWatch({ kc, index, log: log.child({ component: "kube" }), nowSec, onError: (resource) => metrics.kubeErrors.inc({ resource }) })
    : undefined;
  resolver = createResolver(kube ? index : undefined, { max: config.resolverCacheSize }, {
    resolved: (result) => metrics.resolutions.inc({ result }),
    cache: (result) => metrics.resolutionCache.inc({ result }),
  });

  const collectorTransport =
    deps.collectorTransport ??
    (() => {
      const a = config.collectorAuth ?? {};
      const tls = config.collectorUrl.startsWith("https:");
      return createGrpcTransport({
        baseUrl: config.collectorUrl,
        nodeOptions: tls ? { ca: a.ca, cert: a.cert, key: a.key, rejectUnauthorized: !a.insecureSkipVerify, ...(a.insecureSkipVerify ? { checkServerIdentity: () => undefined } : {}) } : undefined,
      });
    });
  const deviceTransport = deps.deviceTransport ?? ((d: DeviceConfig) => createGrpcTransport({ baseUrl: d.url }));

  const streams = new Map<string, CollectorStream>();
  const sharedCollector = collectorTransport();
  for (const node of new Set(config.devices.map((d) => d.node))) {
    streams.set(
      node,
      createCollectorStream(node, config.replayHorizonSec, {
        transport: sharedCollector,
        log,
        nowSec,
        // A session token (issue 8) as `tributary token issue` prints it (base64 of the binary token).
        headers: config.collectorAuth?.token ? { "tributary-session-bin": config.collectorAuth.token } : undefined,
        onSent: (n, replay) => metrics.flowsSent.inc({ node, replay: String(replay) }, n),
        onReconnect: () => metrics.reconnects.inc({ node }),
      }),
    );
  }

  const devices: DeviceState[] = config.devices.map((d) => {
    const transport = deviceTransport(d);
    const state: DeviceState = {
      config: d,
      reader: createDeviceReader(d.dialect, transport, { timeoutMs: config.deviceTimeoutMs }),
      tracker: new SessionTracker(config.tombstoneTtlSec),
      pendingFinals: [],
      busy: false,
    };
    if (d.tapPort !== undefined) {
      state.tap = createSessionTap(d.name, d.ipv4Order, { host: config.tapHost, port: d.tapPort }, {
        transport,
        catalog,
        log,
        nowSec,
        onDescribed: (n) => metrics.tapSessions.inc({ device: d.name }, n),
      });
    }
    if (d.exclusive && d.dialect === "opi") log.warn({ device: d.name }, "exclusive has no effect on an OPI device: the dialect has no getClosedSessions");
    return state;
  });

  async function pollDevice(dev: DeviceState, endSec: number): Promise<{ result: DevicePollResult; flows: MappedFlow[] }> {
    const d = dev.config;
    const flows: MappedFlow[] = [];
    const fail = (e: unknown): { result: DevicePollResult; flows: MappedFlow[] } => {
      const reason = errorReason(e);
      metrics.deviceErrors.inc({ device: d.name, reason });
      metrics.polls.inc({ device: d.name, result: "error" });
      const message = e instanceof Error ? e.message : String(e);
      limited(`${d.name}:${reason}`, (suppressed) => log.warn({ device: d.name, reason, err: message, suppressed }, "device poll failed; retrying next interval"));
      return { result: { device: d.name, result: "error", error: message, flows: 0 }, flows };
    };
    let listed: SessionSnapshot[];
    try {
      dev.pendingFinals.push(...catalog.takeFinals(d.name));
      if (d.exclusive && d.dialect === "v1") dev.pendingFinals.push(...(await dev.reader.drainClosed()));
      listed = await dev.reader.listAll();
      const seen = new Set([...listed.map((s) => s.id), ...dev.pendingFinals.map((s) => s.id)]);
      // Confirm unlisted known sessions one by one before calling them gone (paging races).
      for (const id of dev.tracker.missing(seen).slice(0, MAX_CONFIRMS)) {
        const numeric = parseSessionId(id)?.numeric;
        if (numeric === undefined) continue;
        const s = await dev.reader.get(numeric);
        if (s && s.id === id) listed.push(s);
      }
    } catch (e) {
      return fail(e);
    }
    const finals = dev.pendingFinals;
    dev.pendingFinals = [];
    const outcome = dev.tracker.observe(endSec, listed, finals);
    metrics.polls.inc({ device: d.name, result: outcome.baseline ? "baseline" : "ok" });
    metrics.sessions.set({ device: d.name }, listed.length);
    metrics.sessionsSeen.inc({ device: d.name }, outcome.newSessions);
    if (outcome.resets.counter) metrics.resets.inc({ device: d.name, reason: "counter" }, outcome.resets.counter);
    if (outcome.resets.reuse) metrics.resets.inc({ device: d.name, reason: "reuse" }, outcome.resets.reuse);
    if (outcome.lostFinalDeltas) metrics.lostFinalDeltas.inc({ device: d.name }, outcome.lostFinalDeltas);
    if (outcome.baseline) {
      log.info({ device: d.name, sessions: listed.length, endSec }, "first poll: counters recorded as the baseline, nothing emitted");
    }
    let undescribed = 0;
    for (const delta of outcome.deltas) {
      if (delta.completed) catalog.ended(d.name, delta.id, endSec);
      const desc = catalog.lookup(d.name, delta.id);
      if (!desc) {
        undescribed++;
        continue;
      }
      const mapped = mapSession(desc, delta, { nodeName: d.node, resolver: resolver! });
      if (typeof mapped === "string") metrics.skipped.inc({ device: d.name, reason: mapped });
      else flows.push(mapped);
    }
    if (undescribed) {
      metrics.undescribed.inc({ device: d.name }, undescribed);
      limited(`${d.name}:undescribed`, (suppressed) =>
        log.warn({ device: d.name, sessions: undescribed, suppressed }, "sessions without a descriptor (added without the tap): their deltas are dropped"),
      );
    }
    return { result: { device: d.name, result: outcome.baseline ? "baseline" : "ok", outcome, flows: flows.length }, flows };
  }

  async function pollOnce(endSec = Math.floor(nowSec() / config.intervalSec) * config.intervalSec): Promise<DevicePollResult[]> {
    index.expire(endSec);
    catalog.expire(endSec);
    const startSec = endSec - config.intervalSec;
    const byNode = new Map<string, MappedFlow[]>();
    const results = await Promise.all(
      devices.map(async (dev) => {
        if (dev.busy) return { device: dev.config.name, result: "error" as const, error: "previous poll still running", flows: 0 };
        dev.busy = true;
        try {
          const { result, flows } = await pollDevice(dev, endSec);
          const list = byNode.get(dev.config.node) ?? [];
          list.push(...flows);
          byNode.set(dev.config.node, list);
          return result;
        } finally {
          dev.busy = false;
        }
      }),
    );
    for (const [node, flows] of byNode) {
      const merged = mergeFlows(flows);
      if (!merged.length) continue;
      const updates: { update: FlowUpdate; endSec: number }[] = merged.map((f) => ({ update: toFlowUpdate(f, startSec, endSec), endSec }));
      streams.get(node)!.send(updates);
    }
    return results;
  }

  let timer: NodeJS.Timeout | undefined;
  let running = false;
  const schedule = () => {
    if (!running) return;
    const now = nowSec();
    const next = (Math.floor(now / config.intervalSec) + 1) * config.intervalSec;
    timer = setTimeout(() => {
      pollOnce(next).catch((err: unknown) => log.error({ err }, "poll failed"));
      schedule();
    }, Math.max(0, (next - now) * 1000));
    timer.unref();
  };

  return {
    catalog,
    metrics,
    async start() {
      running = true;
      if (kube) {
        log.info({ source: kubeSource }, "watching Kubernetes pods, services and nodes");
        await kube.start();
      } else {
        log.warn("no Kubernetes configuration (KUBECONFIG or in-cluster service account): every address resolves to Network pub/pvt");
      }
      for (const s of streams.values()) s.start();
      const taps: { device: string; address: AddressInfo }[] = [];
      for (const dev of devices) if (dev.tap) taps.push({ device: dev.config.name, address: await dev.tap.listen() });
      log.info({ devices: devices.map((d) => ({ device: d.config.name, node: d.config.node, dialect: d.config.dialect, exclusive: d.config.exclusive, tap: d.config.tapPort !== undefined })), intervalSec: config.intervalSec, collector: config.collectorUrl, taps: taps.map((t) => t.address.port) }, "offload bridge started");
      if (deps.autoPoll !== false) schedule();
      return { taps };
    },
    pollOnce,
    async flush(timeoutMs) {
      const r = await Promise.all([...streams.values()].map((s) => s.flush(timeoutMs)));
      return r.every(Boolean);
    },
    kubeSynced: () => (kube ? kube.synced() : Promise.resolve()),
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await Promise.all(devices.map((d) => d.tap?.close()));
      await Promise.all([...streams.values()].map((s) => s.stop()));
      await kube?.stop();
      log.info("offload bridge stopped");
    },
  };
}
