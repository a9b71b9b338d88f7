import { LOG_LEVELS } from "../observability/logger.js";
import { ConfigError, parseBool, parseDurationMs, parseIntStrict, parsePort } from "./parse.js";

/** The validated, frozen configuration of `tributary serve` (STYLE.md §5). */
export interface ServeConfig {
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly host: string;
  readonly port: number;
  readonly healthEnabled: boolean;
  readonly healthHost: string;
  readonly healthPort: number;
  readonly prometheusPort: number;
  readonly windowSec: number;
  readonly historyBuckets: number;
  readonly maxUniqueFlows: number;
  readonly replayHorizonSec: number;
  readonly maxMessageBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly maxStreams: number;
  readonly streamQueueSize: number;
  readonly ingestFastLane: boolean;
  readonly streamFastLane: boolean;
  readonly listFastLane: boolean;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly caCertPath: string;
  readonly tlsMinVersion: "TLSv1.2" | "TLSv1.3";
  readonly tlsReloadIntervalMs: number;
  readonly snapshotPath: string;
  readonly snapshotIntervalMs: number;
  readonly corsAllowedOrigins: readonly string[];
  readonly authMode: "none" | "mtls" | "token" | "mtls+token";
  readonly authIssuerKeyPath: string;
  readonly authClockSkewMs: number;
  readonly authMaxTtlMs: number;
  readonly authAllowBearer: boolean;
  readonly authRevokedPath: string;
  readonly authBootstrapPath: string;
  readonly authKubernetes: string;
  readonly authKubernetesAudiences: readonly string[];
  readonly authReloadIntervalMs: number;
  /** Offload bridge inside serve (docs/offload-bridge.md): device URLs; empty = no bridge. */
  readonly offloadDevices: readonly string[];
  readonly offloadDialect: "opi" | "v1";
  readonly offloadNode: string;
  /** Poll interval in seconds; 0 = AGGREGATION_WINDOW. */
  readonly offloadIntervalSec: number;
  readonly offloadExclusive: boolean;
  readonly kubeconfig: string;
  // --- Cluster mode on NATS JetStream (issue 14, src/cluster/, DESIGN §9) ---
  /** NATS server URLs (comma list); empty = embedded mode (one process, in memory). */
  readonly natsUrl: string;
  readonly natsCredsPath: string;
  readonly natsCaPath: string;
  readonly natsCertPath: string;
  readonly natsKeyPath: string;
  readonly clusterStream: string;
  readonly clusterStreamReplicas: number;
  readonly clusterRole: "all" | "ingest" | "query";
  readonly clusterSnapshotBucket: string;
  readonly clusterSnapshotIntervalMs: number;
  readonly clusterBatchDelayMs: number;
  readonly clusterBatchMax: number;
  readonly clusterAppendTimeoutMs: number;
  readonly clusterTickIntervalMs: number;
  // --- Goldmane emitter (issue 13 item 5, src/emitter/) ---
  /** Where flows are POSTed (application/x-ndjson); empty = no emitter (its code is not loaded). */
  readonly pushUrl: string;
  /** JSON `{"emitFlows": bool}` re-read every 30 s; empty = always emit when PUSH_URL is set. */
  readonly fileConfigPath: string;
  /** How long after a window ends its flows are emitted (whole seconds, a multiple of W). */
  readonly emitAfterSec: number;
  /** Width of an emitted window (whole seconds, a multiple of W). */
  readonly emitterWindowSec: number;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** Name the push server's certificate must carry (also sent as SNI). */
  readonly serverName: string;
  /** Attempts after the first before a window is given up (upstream: 15). */
  readonly emitterMaxRetries: number;
  /** Namespace of the `flow-emitter-state` ConfigMap; empty = the pod's, else calico-system. */
  readonly podNamespace: string;
  // --- History in PostgreSQL (issue 16, src/history/) ---
  /** postgres:// URL; empty = no history (nothing is loaded). */
  readonly historyPostgresUrl: string;
  /** Closed buckets waiting to be written at most (older ones are dropped and logged). */
  readonly historyQueueBuckets: number;
  /** Retention of the finest (W) table, in seconds. */
  readonly historyRetentionRawSec: number;
  /** Retention of the 5-minute table, in seconds. */
  readonly historyRetention5mSec: number;
  /** Retention of the 1-hour (and 1-day) tables, in seconds. */
  readonly historyRetention1hSec: number;
}

/** One configuration setting: its environment variable, its flag, default and parser. */
export interface Setting<K extends keyof ServeConfig = keyof ServeConfig> {
  readonly key: K;
  readonly env: string;
  readonly flag: string;
  readonly default: string;
  readonly description: string;
  readonly parse: (raw: string) => ServeConfig[K];
}

function positiveInt(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string) => {
    const n = parseIntStrict(raw);
    if (n < min || n > max) throw new Error(`must be an integer between ${min} and ${max}, got "${raw}"`);
    return n;
  };
}

function wholeSeconds(min: number) {
  return (raw: string) => {
    const ms = parseDurationMs(raw);
    if (ms % 1000 !== 0 || ms < min * 1000) throw new Error(`must be whole seconds >= ${min}s, got "${raw}"`);
    return ms / 1000;
  };
}

function durationMs(raw: string): number {
  const ms = parseDurationMs(raw);
  if (ms < 0) throw new Error(`must not be negative, got "${raw}"`);
  return ms;
}

function logLevel(raw: string): ServeConfig["logLevel"] {
  const s = raw.trim().toLowerCase();
  // logrus spells "warning" and "panic"; accept them as pino's nearest levels.
  const alias: Record<string, string> = { warning: "warn", panic: "fatal" };
  const v = alias[s] ?? s;
  if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new Error(`must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"`);
  return v as ServeConfig["logLevel"];
}

const text = (raw: string) => raw.trim();

function tlsVersion(raw: string): ServeConfig["tlsMinVersion"] {
  // Goldmane's crypto/tls spells them VersionTLS12/VersionTLS13 and "1.2"/"1.3" are common too.
  const v = raw.trim().replace(/^VersionTLS1(\d)$/, "TLSv1.$1").replace(/^(?:tls)?v?1\.([23])$/i, "TLSv1.$1");
  if (v !== "TLSv1.2" && v !== "TLSv1.3") throw new Error(`must be TLSv1.2 or TLSv1.3, got "${raw}"`);
  return v;
}

function positiveDurationMs(raw: string): number {
  const ms = parseDurationMs(raw);
  if (ms <= 0) throw new Error(`must be a positive duration, got "${raw}"`);
  return ms;
}

/** A comma-separated list; blanks dropped. */
function commaList(raw: string): readonly string[] {
  return Object.freeze(raw.split(",").map((x) => x.trim()).filter((x) => x !== ""));
}

function corsOrigins(raw: string): readonly string[] {
  const list = commaList(raw);
  for (const o of list) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) throw new Error(`must be origins (scheme://host[:port]) or *, got "${o}"`);
  }
  return list;
}

function authMode(raw: string): ServeConfig["authMode"] {
  const v = raw.trim().toLowerCase();
  if (v !== "none" && v !== "mtls" && v !== "token" && v !== "mtls+token") throw new Error(`must be none, mtls, token or mtls+token, got "${raw}"`);
  return v;
}

function clusterRole(raw: string): ServeConfig["clusterRole"] {
  const v = raw.trim().toLowerCase();
  if (v !== "all" && v !== "ingest" && v !== "query") throw new Error(`must be all, ingest or query, got "${raw}"`);
  return v;
}

/** A JetStream stream or object-store bucket name: letters, digits, "-" and "_". */
function jsName(raw: string): string {
  const v = raw.trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(v)) throw new Error(`must be 1-64 letters, digits, "-" or "_", got "${raw}"`);
  return v;
}

function natsUrls(raw: string): string {
  const list = commaList(raw);
  for (const u of list) {
    if (!/^(nats|tls|wss?):\/\/[^\s/]+\/?$/.test(u) && !/^[^\s/:]+:\d+$/.test(u)) throw new Error(`must be NATS URLs (nats://host:port, tls://host:port; comma list), got "${u}"`);
  }
  return list.join(",");
}

function offloadDialect(raw: string): ServeConfig["offloadDialect"] {
  const v = raw.trim().toLowerCase();
  if (v !== "opi" && v !== "v1") throw new Error(`must be opi or v1, got "${raw}"`);
  return v;
}

const define = <K extends keyof ServeConfig>(s: Setting<K>) => s as unknown as Setting;

/**
 * Every setting of `serve`, Goldmane's names first (goldmane-spec §8.1). The README's table is
 * this list; a new setting is a design change (STYLE.md §5).
 */
export const SERVE_SETTINGS: readonly Setting[] = [
  define({ key: "logLevel", env: "LOG_LEVEL", flag: "--log-level", default: "info", description: "Log level: fatal, error, warn, info, debug, trace, silent", parse: logLevel }),
  define({ key: "port", env: "PORT", flag: "--port", default: "7443", description: "RPC port: gRPC, gRPC-web and Connect (HTTP/2 and HTTP/1.1)", parse: parsePort }),
  define({ key: "host", env: "HOST", flag: "--host", default: "", description: "Address to bind the RPC port to (empty = all interfaces)", parse: text }),
  define({ key: "healthEnabled", env: "HEALTH_ENABLED", flag: "--health-enabled", default: "true", description: "Serve GET /liveness and /readiness", parse: parseBool }),
  define({ key: "healthHost", env: "HEALTH_HOST", flag: "--health-host", default: "", description: "Address of the health port (empty = all interfaces)", parse: text }),
  define({ key: "healthPort", env: "HEALTH_PORT", flag: "--health-port", default: "8080", description: "Health port", parse: parsePort }),
  define({ key: "prometheusPort", env: "PROMETHEUS_PORT", flag: "--prometheus-port", default: "0", description: "Prometheus /metrics port (0 = off)", parse: parsePort }),
  define({ key: "windowSec", env: "AGGREGATION_WINDOW", flag: "--aggregation-window", default: "15s", description: "Bucket width W (Go duration, whole seconds >= 1s)", parse: wholeSeconds(1) }),
  define({ key: "historyBuckets", env: "HISTORY_BUCKETS", flag: "--history-buckets", default: "240", description: "Complete buckets of history kept (240 x 15s = 1h)", parse: positiveInt(1, 100_000) }),
  define({ key: "maxUniqueFlows", env: "MAX_UNIQUE_FLOWS", flag: "--max-unique-flows", default: "500000", description: "Maximum distinct flow keys; new keys beyond it are dropped and counted", parse: positiveInt(1) }),
  define({ key: "replayHorizonSec", env: "REPLAY_HORIZON", flag: "--replay-horizon", default: "5m30s", description: "How far back agents replay after a reconnect (Felix: up to 5m30s after sending); dedup claims outlive it by 2W", parse: wholeSeconds(0) }),
  define({ key: "maxMessageBytes", env: "MAX_MESSAGE_BYTES", flag: "--max-message-bytes", default: "4194304", description: "Largest accepted request message (bytes)", parse: positiveInt(1024, 0xffffffff) }),
  define({ key: "shutdownTimeoutMs", env: "SHUTDOWN_TIMEOUT", flag: "--shutdown-timeout", default: "10s", description: "Grace period for in-flight calls on SIGTERM", parse: durationMs }),
  define({ key: "maxStreams", env: "MAX_STREAMS", flag: "--max-streams", default: "1000", description: "Open Flows.Stream subscriptions at most; more get RESOURCE_EXHAUSTED", parse: positiveInt(1, 1_000_000) }),
  define({ key: "streamQueueSize", env: "STREAM_QUEUE_SIZE", flag: "--stream-queue-size", default: "10000", description: "Results a live stream may have queued; a consumer further behind gets RESOURCE_EXHAUSTED", parse: positiveInt(1, 100_000_000) }),
  define({ key: "ingestFastLane", env: "INGEST_FAST_LANE", flag: "--ingest-fast-lane", default: "true", description: "Serve gRPC FlowCollector/Connect on the dedicated HTTP/2 handler (false = through Connect like every other call)", parse: parseBool }),
  define({ key: "streamFastLane", env: "STREAM_FAST_LANE", flag: "--stream-fast-lane", default: "true", description: "Serve gRPC Flows/Stream on the dedicated HTTP/2 handler (false = through Connect like every other call)", parse: parseBool }),
  define({ key: "listFastLane", env: "LIST_FAST_LANE", flag: "--list-fast-lane", default: "true", description: "Answer gRPC Flows/List on the dedicated HTTP/2 handler (false = through Connect like every other call)", parse: parseBool }),
  define({ key: "serverCertPath", env: "SERVER_CERT_PATH", flag: "--server-cert-path", default: "", description: "PEM certificate (chain) of the RPC port; with SERVER_KEY_PATH turns on TLS", parse: text }),
  define({ key: "serverKeyPath", env: "SERVER_KEY_PATH", flag: "--server-key-path", default: "", description: "PEM private key of SERVER_CERT_PATH", parse: text }),
  define({ key: "caCertPath", env: "CA_CERT_PATH", flag: "--ca-cert-path", default: "", description: "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)", parse: text }),
  define({ key: "tlsMinVersion", env: "TLS_MIN_VERSION", flag: "--tls-min-version", default: "TLSv1.2", description: "Lowest TLS version accepted: TLSv1.2 or TLSv1.3", parse: tlsVersion }),
  define({ key: "tlsReloadIntervalMs", env: "TLS_RELOAD_INTERVAL", flag: "--tls-reload-interval", default: "30s", description: "How often certificate files are checked for changes (reloaded without a restart)", parse: positiveDurationMs }),
  define({ key: "snapshotPath", env: "SNAPSHOT_PATH", flag: "--snapshot-path", default: "", description: "File the flow history is saved to on shutdown (and every SNAPSHOT_INTERVAL) and restored from on start; empty = off", parse: text }),
  define({ key: "snapshotIntervalMs", env: "SNAPSHOT_INTERVAL", flag: "--snapshot-interval", default: "5m", description: "How often a snapshot is written while running (0 = only on shutdown)", parse: durationMs }),
  define({ key: "corsAllowedOrigins", env: "CORS_ALLOWED_ORIGINS", flag: "--cors-allowed-origins", default: "", description: "Browser origins (scheme://host[:port], comma list, or *) allowed to call the RPC port cross-origin", parse: corsOrigins }),
  define({ key: "authMode", env: "AUTH_MODE", flag: "--auth-mode", default: "none", description: "What calls must present: none, mtls (client certificate), token (session token), mtls+token", parse: authMode }),
  define({ key: "authIssuerKeyPath", env: "AUTH_ISSUER_KEY_PATH", flag: "--auth-issuer-key-path", default: "", description: "PEM issuer key, or a directory of them: all verify tokens, the newest private key signs", parse: text }),
  define({ key: "authClockSkewMs", env: "AUTH_CLOCK_SKEW", flag: "--auth-clock-skew", default: "30s", description: "Clock skew allowed on token lifetimes and proof-of-possession times", parse: durationMs }),
  define({ key: "authMaxTtlMs", env: "AUTH_MAX_TTL", flag: "--auth-max-ttl", default: "15m", description: "Longest lifetime of a token issued by SessionService.Create", parse: positiveDurationMs }),
  define({ key: "authAllowBearer", env: "AUTH_ALLOW_BEARER", flag: "--auth-allow-bearer", default: "true", description: "Accept tokens without a session key (no proof of possession): the web UI and token issue", parse: parseBool }),
  define({ key: "authRevokedPath", env: "AUTH_REVOKED_PATH", flag: "--auth-revoked-path", default: "", description: "File of revoked token ids (one UUID a line), re-read every AUTH_RELOAD_INTERVAL", parse: text }),
  define({ key: "authBootstrapPath", env: "AUTH_BOOTSTRAP_PATH", flag: "--auth-bootstrap-path", default: "", description: "JSON grants for SessionService.Create: static secrets and ServiceAccounts, with verbs, node, namespaces", parse: text }),
  define({ key: "authKubernetes", env: "AUTH_KUBERNETES", flag: "--auth-kubernetes", default: "", description: "Check ServiceAccount tokens with TokenReview: in-cluster, or a kubeconfig path (empty = off)", parse: text }),
  define({ key: "authKubernetesAudiences", env: "AUTH_KUBERNETES_AUDIENCES", flag: "--auth-kubernetes-audiences", default: "", description: "Audiences a ServiceAccount token must carry (comma list; empty = the API server's)", parse: commaList }),
  define({ key: "offloadDevices", env: "OFFLOAD_DEVICES", flag: "--offload-devices", default: "", description: "Offload devices polled by the built-in bridge (comma list of SessionTable URLs, options in the query: node, dialect, exclusive, ipv4, tap); empty = no bridge", parse: commaList }),
  define({ key: "offloadDialect", env: "OFFLOAD_DIALECT", flag: "--offload-dialect", default: "opi", description: "Default device dialect: opi (opi_api.security.firewall.v1) or v1 (openoffload.v1)", parse: offloadDialect }),
  define({ key: "offloadNode", env: "OFFLOAD_NODE", flag: "--offload-node", default: "", description: "Node name the offload devices' Flows are reported by (required with OFFLOAD_DEVICES unless each device sets ?node=)", parse: text }),
  define({ key: "offloadIntervalSec", env: "OFFLOAD_INTERVAL", flag: "--offload-interval", default: "", description: "Offload poll interval = Flow width (empty = AGGREGATION_WINDOW; a multiple of it)", parse: (raw) => (raw.trim() === "" ? 0 : wholeSeconds(1)(raw)) }),
  define({ key: "offloadExclusive", env: "OFFLOAD_EXCLUSIVE", flag: "--offload-exclusive", default: "false", description: "Drain getClosedSessions (v1 devices): only when nothing else reads their close records", parse: parseBool }),
  define({ key: "kubeconfig", env: "KUBECONFIG", flag: "--kubeconfig", default: "", description: "Kubeconfig for offload identities (empty = in-cluster service account if mounted, else none)", parse: text }),
  define({ key: "authReloadIntervalMs", env: "AUTH_RELOAD_INTERVAL", flag: "--auth-reload-interval", default: "30s", description: "How often issuer keys, revocations and the bootstrap file are re-read", parse: positiveDurationMs }),
  // --- Cluster mode on NATS JetStream (issue 14, src/cluster/, DESIGN §9) ---
  define({ key: "natsUrl", env: "NATS_URL", flag: "--nats-url", default: "", description: "NATS servers with JetStream (comma list of nats://host:port); set = cluster mode, empty = one process in memory", parse: natsUrls }),
  define({ key: "natsCredsPath", env: "NATS_CREDS_PATH", flag: "--nats-creds-path", default: "", description: "NATS credentials file (JWT + NKey seed) for the log connection", parse: text }),
  define({ key: "natsCaPath", env: "NATS_CA_PATH", flag: "--nats-ca-path", default: "", description: "PEM CA bundle that signed the NATS servers' certificates (turns on TLS to NATS)", parse: text }),
  define({ key: "natsCertPath", env: "NATS_CERT_PATH", flag: "--nats-cert-path", default: "", description: "PEM client certificate for NATS (mTLS; with NATS_KEY_PATH)", parse: text }),
  define({ key: "natsKeyPath", env: "NATS_KEY_PATH", flag: "--nats-key-path", default: "", description: "PEM private key of NATS_CERT_PATH", parse: text }),
  define({ key: "clusterStream", env: "CLUSTER_STREAM", flag: "--cluster-stream", default: "tributary-flows", description: "JetStream stream holding the flow log (created if missing)", parse: jsName }),
  define({ key: "clusterStreamReplicas", env: "CLUSTER_STREAM_REPLICAS", flag: "--cluster-stream-replicas", default: "1", description: "Copies of the stream and the snapshot bucket kept by the NATS cluster (1-5)", parse: positiveInt(1, 5) }),
  define({ key: "clusterRole", env: "CLUSTER_ROLE", flag: "--cluster-role", default: "all", description: "all (ingest and query), ingest (FlowCollector into the log, no store) or query (consume the log, serve queries)", parse: clusterRole }),
  define({ key: "clusterSnapshotBucket", env: "CLUSTER_SNAPSHOT_BUCKET", flag: "--cluster-snapshot-bucket", default: "tributary-snapshots", description: "JetStream object store bucket of state snapshots (tagged with the stream sequence they cover)", parse: jsName }),
  define({ key: "clusterSnapshotIntervalMs", env: "CLUSTER_SNAPSHOT_INTERVAL", flag: "--cluster-snapshot-interval", default: "1m", description: "How often a snapshot is written to the bucket (0 = never); a replica skips its turn when another wrote one less than half an interval ago", parse: durationMs }),
  define({ key: "clusterBatchDelayMs", env: "CLUSTER_BATCH_DELAY", flag: "--cluster-batch-delay", default: "1ms", description: "Longest time updates are collected into one log message before it is published", parse: durationMs }),
  define({ key: "clusterBatchMax", env: "CLUSTER_BATCH_MAX", flag: "--cluster-batch-max", default: "1000", description: "Most updates in one log message (published at once when reached)", parse: positiveInt(1, 100_000) }),
  define({ key: "clusterAppendTimeoutMs", env: "CLUSTER_APPEND_TIMEOUT", flag: "--cluster-append-timeout", default: "5s", description: "How long a log append waits for JetStream's acknowledgement before its ingest calls end with UNAVAILABLE", parse: positiveDurationMs }),
  define({ key: "clusterTickIntervalMs", env: "CLUSTER_TICK_INTERVAL", flag: "--cluster-tick-interval", default: "1s", description: "An ingesting replica appends a time mark this often when idle, so replicas roll buckets over without traffic", parse: positiveDurationMs }),
  // --- Goldmane emitter (issue 13 item 5; Goldmane's names and defaults, goldmane/pkg/daemon) ---
  define({ key: "pushUrl", env: "PUSH_URL", flag: "--push-url", default: "", description: "Emitter: URL flows are POSTed to as application/x-ndjson, one Go-JSON Flow a line (empty = off)", parse: pushUrl }),
  define({ key: "fileConfigPath", env: "FILE_CONFIG_PATH", flag: "--file-config-path", default: "", description: "Emitter: JSON file {\"emitFlows\": bool} re-read every 30s (empty = emit whenever PUSH_URL is set)", parse: text }),
  define({ key: "emitAfterSec", env: "EMIT_AFTER_SECONDS", flag: "--emit-after-seconds", default: "30", description: "Emitter: seconds after a window ends before it is emitted (a multiple of AGGREGATION_WINDOW)", parse: positiveInt(0, 86_400) }),
  define({ key: "emitterWindowSec", env: "EMITTER_AGGREGATION_WINDOW", flag: "--emitter-aggregation-window", default: "5m", description: "Emitter: width of an emitted window, flows aggregated per key over it (a multiple of AGGREGATION_WINDOW)", parse: wholeSeconds(1) }),
  define({ key: "clientCertPath", env: "CLIENT_CERT_PATH", flag: "--client-cert-path", default: "", description: "Emitter: PEM client certificate presented to PUSH_URL (with CLIENT_KEY_PATH)", parse: text }),
  define({ key: "clientKeyPath", env: "CLIENT_KEY_PATH", flag: "--client-key-path", default: "", description: "Emitter: PEM private key of CLIENT_CERT_PATH", parse: text }),
  define({ key: "serverName", env: "SERVER_NAME", flag: "--server-name", default: "tigera-linseed.tigera-elasticsearch.svc", description: "Emitter: name PUSH_URL's certificate is verified against (and SNI); CA_CERT_PATH is its trust root when set", parse: text }),
  define({ key: "emitterMaxRetries", env: "EMITTER_MAX_RETRIES", flag: "--emitter-max-retries", default: "15", description: "Emitter: retries (backoff 1s doubling to 30s) before a window is given up and counted failed", parse: positiveInt(0, 1_000_000) }),
  define({ key: "podNamespace", env: "POD_NAMESPACE", flag: "--pod-namespace", default: "", description: "Emitter: namespace of ConfigMap flow-emitter-state (empty = the service account's namespace, else calico-system)", parse: text }),
  // --- History in PostgreSQL (issue 16, docs/DESIGN.md §10) ---
  define({ key: "historyPostgresUrl", env: "HISTORY_POSTGRES_URL", flag: "--history-postgres-url", default: "", description: "PostgreSQL URL (postgres://user:pass@host:5432/db) flows are kept in beyond the hour; empty = off", parse: text }),
  define({ key: "historyQueueBuckets", env: "HISTORY_QUEUE_BUCKETS", flag: "--history-queue-buckets", default: "240", description: "Closed buckets waiting for PostgreSQL at most; on overflow the oldest is dropped and logged", parse: positiveInt(1, 100_000) }),
  define({ key: "historyRetentionRawSec", env: "HISTORY_RETENTION_RAW", flag: "--history-retention-raw", default: "24h", description: "How long the finest (AGGREGATION_WINDOW) history is kept", parse: wholeSeconds(3600) }),
  define({ key: "historyRetention5mSec", env: "HISTORY_RETENTION_5M", flag: "--history-retention-5m", default: "168h", description: "How long the 5-minute history is kept", parse: wholeSeconds(3600) }),
  define({ key: "historyRetention1hSec", env: "HISTORY_RETENTION_1H", flag: "--history-retention-1h", default: "2160h", description: "How long the 1-hour (and 1-day) history is kept", parse: wholeSeconds(3600) }),
];

function pushUrl(raw: string): string {
  const v = raw.trim();
  if (v === "") return v;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(`must be an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error(`must be an http(s) URL, got "${raw}"`);
  return v;
}

/** The flag's option name as commander spells it in `opts()` (camel case of the flag). */
export function flagKey(flag: string): string {
  return flag.replace(/^--/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Builds the configuration from the environment and flags (a flag overrides its variable). The
 * only reader of the environment for `serve`. Throws {@link ConfigError} naming the variable.
 */
export function loadServeConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown> = {}): ServeConfig {
  const out: Record<string, unknown> = {};
  for (const s of SERVE_SETTINGS) {
    const fromFlag = flags[flagKey(s.flag)];
    const fromEnv = env[s.env];
    // An empty variable (common in manifests) means "unset".
    const raw = typeof fromFlag === "string" ? fromFlag : fromEnv !== undefined && fromEnv !== "" ? fromEnv : s.default;
    try {
      out[s.key] = s.parse(raw);
    } catch (e) {
      const where = typeof fromFlag === "string" ? `${s.env} (${s.flag})` : s.env;
      throw new ConfigError(where, (e as Error).message);
    }
  }
  const c = out as unknown as ServeConfig;
  // TLS needs both halves; a client CA without a server certificate cannot be enforced.
  if ((c.serverCertPath === "") !== (c.serverKeyPath === "")) {
    throw new ConfigError(c.serverCertPath === "" ? "SERVER_CERT_PATH" : "SERVER_KEY_PATH", "SERVER_CERT_PATH and SERVER_KEY_PATH must be set together");
  }
  // CA_CERT_PATH is also the emitter's trust root (as upstream): alone it is fine with PUSH_URL.
  if (c.caCertPath !== "" && c.serverCertPath === "" && c.pushUrl === "") {
    throw new ConfigError("CA_CERT_PATH", "client certificates (mTLS) need TLS: set SERVER_CERT_PATH and SERVER_KEY_PATH too");
  }
  if ((c.natsCertPath === "") !== (c.natsKeyPath === "")) {
    throw new ConfigError(c.natsCertPath === "" ? "NATS_CERT_PATH" : "NATS_KEY_PATH", "NATS_CERT_PATH and NATS_KEY_PATH must be set together");
  }
  if (c.natsUrl === "" && c.clusterRole !== "all") {
    throw new ConfigError("CLUSTER_ROLE", `role ${c.clusterRole} needs cluster mode: set NATS_URL`);
  }
  if (c.pushUrl !== "") {
    // Goldmane divides these by W silently; a remainder would shift windows off bucket edges.
    if (c.emitterWindowSec % c.windowSec !== 0) {
      throw new ConfigError("EMITTER_AGGREGATION_WINDOW", `must be a multiple of AGGREGATION_WINDOW (${c.windowSec}s), got ${c.emitterWindowSec}s`);
    }
    if (c.emitAfterSec % c.windowSec !== 0) {
      throw new ConfigError("EMIT_AFTER_SECONDS", `must be a multiple of AGGREGATION_WINDOW (${c.windowSec}s), got ${c.emitAfterSec}`);
    }
    if (c.emitterWindowSec + c.emitAfterSec > c.historyBuckets * c.windowSec) {
      throw new ConfigError("EMITTER_AGGREGATION_WINDOW", `plus EMIT_AFTER_SECONDS must fit the history (HISTORY_BUCKETS x AGGREGATION_WINDOW = ${c.historyBuckets * c.windowSec}s)`);
    }
    if ((c.clientCertPath === "") !== (c.clientKeyPath === "")) {
      throw new ConfigError(c.clientCertPath === "" ? "CLIENT_CERT_PATH" : "CLIENT_KEY_PATH", "CLIENT_CERT_PATH and CLIENT_KEY_PATH must be set together");
    }
  }
  if (c.historyPostgresUrl !== "") {
    // Rollups are whole multiples of W (docs/DESIGN.md §10).
    if (300 % c.windowSec !== 0) throw new ConfigError("AGGREGATION_WINDOW", `history needs a window dividing 5m, got ${c.windowSec}s`);
    if (!/^postgres(ql)?:\/\//.test(c.historyPostgresUrl)) throw new ConfigError("HISTORY_POSTGRES_URL", "must be a postgres:// or postgresql:// URL");
  }
  return Object.freeze(out) as unknown as ServeConfig;
}
