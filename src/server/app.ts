import type * as http2 from "node:http2";
import { setMaxListeners } from "node:events";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import { FlowCollector, Flows, Statistics } from "../gen/goldmane/api_pb.js";
import { createAggregator, type Aggregator } from "../aggregator/aggregator.js";
import { aggregatorMetrics } from "../aggregator/metrics.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { Clock } from "../model/time.js";
import type { Logger } from "../observability/logger.js";
import { createServeBridge } from "../offload/bridge/serve-bridge.js";
import type { OffloadBridge } from "../offload/bridge/index.js";
import { collectorService } from "./collector-service.js";
import { flowsService } from "./flows-service.js";
import { createHealthServer, type HealthReporter } from "./health.js";
import { createIngestFastLane } from "./ingest-fast-lane.js";
import { createRpcListener } from "./listener.js";
import { createStreamFastLane } from "./stream-fast-lane.js";
import { createListFastLane } from "./list-fast-lane.js";
import type { AuthorizeHeaders } from "./fast-lane-call.js";
import { loadTlsMaterial, tlsServerOptions, watchTlsFiles } from "./tls.js";
import { periodicSnapshots, restoreSnapshotFile, writeSnapshotFile } from "./snapshot-file.js";
import { createMetricsServer } from "./metrics-http.js";
import { serverMetrics } from "./metrics.js";
import { statisticsService } from "./statistics-service.js";
import { requestContextValues } from "./peer.js";
import { createStaticAssets } from "./static-assets.js";
import { createStreamHub, streamMetrics } from "../stream/index.js";
import { createAuth } from "../auth/index.js";
import { SessionService } from "../gen/tributary/session/v1/session_pb.js";
import { withCors } from "./cors.js";
import type { History } from "../history/index.js";
import { decodeErrorsAsInvalidArgument, lenientService } from "./lenient-routes.js";
import { reflectionRoutes } from "./reflection.js";
import { createClusterNode, createLogClock, type ClusterNode } from "../cluster/index.js";
import { listFlows } from "../query/list.js";
import type { Emitter, EmitterSource, EmitterTuning } from "../emitter/index.js";

export interface ServerDeps {
  log: Logger;
  clock: Clock;
  /** Defaults to a fresh registry; default process metrics are added to it either way. */
  registry?: Registry;
  /** Shorter emitter timings (file re-read, retry backoff) for tests; serve uses upstream's. */
  emitterTuning?: EmitterTuning;
}

/** Bound addresses after {@link TributaryServer.listen}. */
export interface BoundPorts {
  port: number;
  healthPort?: number;
  metricsPort?: number;
}

/** The whole service, built apart from `listen` so tests and `main` share it (STYLE.md §1). */
export interface TributaryServer {
  readonly aggregator: Aggregator;
  readonly registry: Registry;
  /** The built-in offload bridge once listening (OFFLOAD_DEVICES set), else undefined. */
  readonly offloadBridge: OffloadBridge | undefined;
  /** The PostgreSQL history once listening (HISTORY_POSTGRES_URL set), else undefined. */
  readonly history: History | undefined;
  /** The Goldmane emitter once listening (PUSH_URL set), else undefined. */
  readonly emitter: Emitter | undefined;
  listen(): Promise<BoundPorts>;
  /** Graceful stop: not ready, stop accepting, end streams, wait for calls (≤ shutdown timeout). */
  close(): Promise<void>;
}

/** A method of the side a cluster role does not serve: UNIMPLEMENTED saying where to go. */
function otherRole(service: string, role: "ingest" | "query") {
  return (): never => {
    throw new ConnectError(`${service} is served by replicas of CLUSTER_ROLE ${role} or all, not by this one`, Code.Unimplemented);
  };
}

/** Wires aggregator, services, the RPC port, health and metrics (DESIGN §2 `server/`). */
export function createTributaryServer(config: ServeConfig, deps: ServerDeps): TributaryServer {
  const log = deps.log;
  const registry = deps.registry ?? new Registry();
  // Process metrics once per registry (a second registration of the same names would throw).
  if (!registry.getSingleMetric("process_cpu_user_seconds_total")) collectDefaultMetrics({ register: registry });
  // Cluster mode (NATS_URL, DESIGN §9): the store is fed from the log and its time is the log's.
  const logClock = config.natsUrl !== "" ? createLogClock() : undefined;
  const aggClock: Clock = logClock ?? deps.clock;
  const aggregator = createAggregator(config, {
    clock: aggClock,
    log: log.child({ module: "aggregator" }),
    metrics: aggregatorMetrics(registry),
  });
  const metrics = serverMetrics(registry);
  const cluster: ClusterNode | undefined = logClock ? createClusterNode(config, { log, registry, aggregator, clock: logClock }) : undefined;
  const servesIngest = config.clusterRole !== "query";
  const servesQueries = config.clusterRole !== "ingest";
  // Session tokens and AUTH_MODE (issue 8, docs/auth.md); reads its files now (ConfigError).
  const auth = createAuth(config, { clock: deps.clock, registry, log: log.child({ module: "auth" }) });
  const shutdown = new AbortController();
  // Every open ingest or stream call listens for shutdown: thousands of agents are normal.
  setMaxListeners(0, shutdown.signal);
  const streams = createStreamHub(
    { maxStreams: config.maxStreams, queueSize: config.streamQueueSize },
    { source: aggregator, metrics: streamMetrics(registry) },
  );

  // The PostgreSQL history (issue 16) is loaded lazily in listen() when configured.
  let history: History | undefined;
  const historyRef = () => history?.source;
  const routes = (router: ConnectRouter) => {
    // Both PolicyMatch encodings, v3.31's PolicyKind names, INVALID_ARGUMENT for undecodable
    // bodies (lenient-routes.ts, DESIGN §6d). Ingest JSON stays lenient about unknown fields, so an
    // agent of a newer Calico is not refused for a field we do not know yet.
    // A cluster role serves only its side (CLUSTER_ROLE); the other side's methods are UNIMPLEMENTED.
    if (servesIngest) {
      lenientService(router, FlowCollector, collectorService({ aggregator, metrics, sink: cluster?.sink }), { jsonOptions: { ignoreUnknownFields: true } });
    } else {
      router.service(FlowCollector, { connect: otherRole("FlowCollector", "ingest") });
    }
    if (servesQueries) {
      lenientService(router, Flows, flowsService({ aggregator, streams, history: historyRef }));
      lenientService(router, Statistics, statisticsService({ aggregator, history: historyRef }));
    } else {
      router.service(Flows, { list: otherRole("Flows", "query"), filterHints: otherRole("Flows", "query"), stream: otherRole("Flows", "query") });
      router.service(Statistics, { list: otherRole("Statistics", "query") });
    }
    router.service(SessionService, auth.sessionService);
    // gRPC server reflection v1 and v1alpha (grpcurl, buf curl --reflect), a query under AUTH_MODE.
    reflectionRoutes(router, [FlowCollector, Flows, Statistics, SessionService]);
  };
  const handler = connectNodeAdapter({
    routes,
    grpc: true,
    grpcWeb: true,
    connect: true,
    readMaxBytes: config.maxMessageBytes,
    shutdownSignal: shutdown.signal,
    contextValues: auth.contextValues(requestContextValues),
    // Strict JSON: an unknown field or enum name is INVALID_ARGUMENT naming it, not ignored.
    jsonOptions: { ignoreUnknownFields: false },
    interceptors: [decodeErrorsAsInvalidArgument, auth.interceptor],
    // Unknown paths (GET/HEAD) serve the built web UI from dist/web (src/web, issue 10).
    fallback: createStaticAssets(),
  });
  const ingestLane =
    config.ingestFastLane && servesIngest
      ? createIngestFastLane({
          aggregator,
          metrics,
          log: log.child({ module: "ingest" }),
          maxMessageBytes: config.maxMessageBytes,
          shutdownSignal: shutdown.signal,
          nodeOf: auth.ingestNodeOf,
          sink: cluster?.sink,
        })
      : undefined;
  // What the query lanes (Stream, List) share.
  const queryLane = {
    aggregator,
    maxMessageBytes: config.maxMessageBytes,
    shutdownSignal: shutdown.signal,
    authorize: ((headers, socket) => auth.authorizeHeaders(headers, socket)) satisfies AuthorizeHeaders,
  };
  const streamLane =
    config.streamFastLane && servesQueries ? createStreamFastLane({ ...queryLane, hub: streams, log: log.child({ module: "stream" }) }) : undefined;
  const listLane =
    config.listFastLane && servesQueries ? createListFastLane({ ...queryLane, history: historyRef, log: log.child({ module: "list" }) }) : undefined;
  // The listener takes one raw-stream hook: each lane declines what it does not serve.
  const lanes = [ingestLane, streamLane, listLane].filter((l) => l !== undefined);
  const fastLane =
    lanes.length === 0
      ? undefined
      : (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => lanes.some((lane) => lane(stream, headers));
  const tlsPaths = { certPath: config.serverCertPath, keyPath: config.serverKeyPath, caPath: config.caCertPath, minVersion: config.tlsMinVersion };
  const tlsOn = config.serverCertPath !== "";
  // Read now, so a missing file stops start-up with the variable's name (a ConfigError).
  const tlsMaterial = tlsOn ? loadTlsMaterial(tlsPaths) : undefined;
  const rpc = createRpcListener({
    host: config.host,
    port: config.port,
    handler: withCors(config.corsAllowedOrigins, handler),
    onStream: fastLane,
    tls: tlsMaterial ? tlsServerOptions(tlsPaths, tlsMaterial) : undefined,
  });
  let tlsWatch: { stop(): void } | undefined;
  let snapshots: { stop(): void } | undefined;

  let serving = false;
  let closing = false;
  const startup: HealthReporter = { name: "startup", live: () => true, ready: () => serving && !closing };
  const aggregatorHealth: HealthReporter = {
    name: "aggregator",
    // Goldmane's aggregator reporter times out after 4·W without a rollover (spec §8.3).
    // (In cluster mode both times are the log's: a quiet log is not a stuck aggregator.)
    live: () => aggClock.nowSec() - aggregator.lastTickSec < Math.max(60, 4 * config.windowSec),
    ready: () => aggClock.nowSec() - aggregator.lastTickSec < Math.max(60, 4 * config.windowSec),
  };
  const reporters = cluster ? [startup, aggregatorHealth, cluster.health] : [startup, aggregatorHealth];
  const health = config.healthEnabled ? createHealthServer(config.healthHost, config.healthPort, reporters) : null;
  const metricsHttp = config.prometheusPort > 0 ? createMetricsServer("", config.prometheusPort, registry) : null;
  // Keep the aggregator's liveness fresh between rollovers even with a long W.
  let heartbeat: NodeJS.Timeout | undefined;
  const serveBridge = createServeBridge(config, { log, registry, clock: deps.clock });
  let offloadBridge: OffloadBridge | undefined;
  // The emitter consumes closed buckets like the stream hub: a narrow view of the aggregator.
  const emitterSource: EmitterSource = {
    windowSec: config.windowSec,
    nowSec: () => aggregator.nowSec(),
    oldestStartSec: () => aggregator.store.ring.oldestStart,
    onReady: (listener) => aggregator.onReady(listener),
    flowsIn: (gteSec, ltSec) =>
      listFlows(aggregator.store, { range: { gteSec, ltSec }, filter: () => true, sort: "time", page: { page: 0, pageSize: 0 }, intervalSec: 0 }).rows,
  };
  let emitter: Emitter | undefined;

  return {
    aggregator,
    registry,
    get offloadBridge() {
      return offloadBridge;
    },
    get history() {
      return history;
    },
    get emitter() {
      return emitter;
    },
    async listen() {
      // Restore before accepting anything, so agents' replays meet their restored claims.
      if (cluster && config.snapshotPath) {
        log.warn({ file: config.snapshotPath }, "SNAPSHOT_PATH is ignored in cluster mode: replicas load snapshots from CLUSTER_SNAPSHOT_BUCKET and replay the log");
      } else if (config.snapshotPath) {
        restoreSnapshotFile(config.snapshotPath, aggregator, log.child({ module: "snapshot" }));
        snapshots = periodicSnapshots(config.snapshotPath, config.snapshotIntervalMs, aggregator, log.child({ module: "snapshot" }));
      }
      if (config.historyPostgresUrl) {
        // Imported only when configured: without a URL neither src/history nor pg is loaded.
        const { createHistory } = await import("../history/index.js");
        const h = createHistory(config, { aggregator, log: log.child({ module: "history" }), registry });
        await h.start();
        history = h;
      }
      const healthAddr = await health?.listen();
      const metricsAddr = await metricsHttp?.listen();
      // Waits for NATS (readiness says 503 meanwhile); catching up with the log runs on.
      await cluster?.start();
      if (servesQueries) aggregator.start();
      auth.start();
      heartbeat = setInterval(() => aggregator.tick(), 5000);
      heartbeat.unref();
      const addr = await rpc.listen();
      if (tlsOn) {
        tlsWatch = watchTlsFiles(tlsPaths, config.tlsReloadIntervalMs, (m) => rpc.setSecureContext(tlsServerOptions(tlsPaths, m)), log.child({ module: "tls" }));
        log.info({ mtls: config.caCertPath !== "", minVersion: config.tlsMinVersion }, "TLS on the RPC port");
      } else {
        log.warn(
          { authMode: config.authMode },
          config.authMode === "none"
            ? "no SERVER_CERT_PATH/SERVER_KEY_PATH: the RPC port serves cleartext (h2c and HTTP/1.1) without authentication"
            : "no SERVER_CERT_PATH/SERVER_KEY_PATH: the RPC port serves cleartext (h2c and HTTP/1.1); session tokens travel unencrypted",
        );
      }
      if (serveBridge) offloadBridge = await serveBridge.start(addr.port);
      if (config.pushUrl !== "") {
        // Loaded only with PUSH_URL: it brings the Kubernetes client for its progress ConfigMap.
        const { createServeEmitter } = await import("../emitter/index.js");
        emitter = createServeEmitter(config, { source: emitterSource, registry, log: log.child({ module: "emitter" }), tuning: deps.emitterTuning });
        await emitter.start();
      }
      serving = true;
      log.info(
        {
          port: addr.port,
          healthPort: healthAddr?.port,
          metricsPort: metricsAddr?.port,
          windowSec: config.windowSec,
          historyBuckets: config.historyBuckets,
          ...(cluster ? { role: config.clusterRole, stream: config.clusterStream } : {}),
        },
        "serving gRPC, gRPC-web and Connect",
      );
      return { port: addr.port, healthPort: healthAddr?.port, metricsPort: metricsAddr?.port };
    },
    async close() {
      if (closing) return;
      closing = true;
      log.info({ timeoutMs: config.shutdownTimeoutMs }, "shutting down");
      await serveBridge?.stop();
      await emitter?.stop();
      // Streams never end on their own: end them now; unary calls in flight complete normally.
      shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      streams.close();
      await rpc.close(config.shutdownTimeoutMs);
      await cluster?.close();
      tlsWatch?.stop();
      auth.stop();
      snapshots?.stop();
      if (config.snapshotPath && !cluster) {
        try {
          writeSnapshotFile(config.snapshotPath, aggregator, log.child({ module: "snapshot" }));
        } catch (err) {
          log.error({ err, file: config.snapshotPath }, "snapshot on shutdown failed");
        }
      }
      await history?.stop(Math.max(1000, config.shutdownTimeoutMs / 2));
      aggregator.stop();
      if (heartbeat) clearInterval(heartbeat);
      await metricsHttp?.close();
      await health?.close();
      log.info("stopped");
    },
  };
}
