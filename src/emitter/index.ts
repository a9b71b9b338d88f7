/**
 * The emitter/ folder's public surface (STYLE.md §1): Goldmane's flow emitter (issue 13 item 5,
 * DESIGN §6c). `server/app.ts` imports this module only when PUSH_URL is set, so a plain `serve`
 * never loads it or the Kubernetes client it uses for its progress.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Registry } from "prom-client";
import { ConfigError } from "../config/parse.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { Logger } from "../observability/logger.js";
import { createEmitter, type Emitter, type EmitterConfig, type EmitterSource, type EmitterState } from "./emitter.js";
import { emitterMetrics } from "./metrics.js";
import { createPushClient } from "./push-client.js";

export { createEmitter, readEmitFlows, type Emitter, type EmitterConfig, type EmitterDeps, type EmitterSource, type EmitterState } from "./emitter.js";
export { batchBody, flowToGoJson, goString } from "./flow-json.js";
export { createPushClient, NDJSON, type PushClient, type PushTarget } from "./push-client.js";
export { emitterMetrics, type EmitterMetrics } from "./metrics.js";

/** Timings `serve` uses; tests may shorten them (STYLE.md §8: inject, do not branch). */
export type EmitterTuning = Partial<Pick<EmitterConfig, "fileConfigIntervalMs" | "retryMinMs" | "retryMaxMs">>;

/** Upstream's timings: file re-read every 30 s, retries after 1 s doubling to 30 s. */
export const EMITTER_DEFAULTS = { fileConfigIntervalMs: 30_000, retryMinMs: 1_000, retryMaxMs: 30_000 } as const;

/**
 * The emitter of `serve`: the push client (certificate files read now: a bad one throws
 * ConfigError naming the variable), progress in the ConfigMap through the Kubernetes API when
 * one is configured (KUBECONFIG, else the pod's service account), and the metrics.
 */
export function createServeEmitter(
  config: ServeConfig,
  deps: { source: EmitterSource; registry: Registry; log: Logger; tuning?: EmitterTuning },
): Emitter {
  const client = createPushClient({
    url: config.pushUrl,
    caCertPath: config.caCertPath,
    clientCertPath: config.clientCertPath,
    clientKeyPath: config.clientKeyPath,
    serverName: config.serverName,
    minVersion: config.tlsMinVersion,
    timeoutMs: 60_000,
  });
  if (config.kubeconfig !== "" && !existsSync(config.kubeconfig)) throw new ConfigError("KUBECONFIG", `no such file: ${config.kubeconfig}`);
  const namespace = stateNamespace(config.podNamespace);
  const state = config.kubeconfig !== "" || existsSync(SERVICE_ACCOUNT_TOKEN) ? lazyConfigMapState(config.kubeconfig, namespace) : null;
  deps.log.info({ url: redactUrl(config.pushUrl), configMap: state?.where ?? null, windowSec: config.emitterWindowSec, emitAfterSec: config.emitAfterSec, fileConfig: config.fileConfigPath || null }, "emitter configured");
  return createEmitter(
    {
      emitterWindowSec: config.emitterWindowSec,
      emitAfterSec: config.emitAfterSec,
      maxRetries: config.emitterMaxRetries,
      fileConfigPath: config.fileConfigPath,
      ...EMITTER_DEFAULTS,
      ...deps.tuning,
    },
    { source: deps.source, client, state, metrics: emitterMetrics(deps.registry), log: deps.log },
  );
}

/** Where a pod's service account is mounted (client-node's in-cluster paths). */
const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const SERVICE_ACCOUNT_TOKEN = `${SERVICE_ACCOUNT_DIR}/token`;

/**
 * The namespace of the state ConfigMap: POD_NAMESPACE when set, else the pod's own (service
 * account mount), else `calico-system` (upstream hard-codes it; the operator runs Goldmane there).
 */
export function stateNamespace(podNamespace: string, namespaceFile = `${SERVICE_ACCOUNT_DIR}/namespace`): string {
  if (podNamespace !== "") return podNamespace;
  if (existsSync(namespaceFile)) {
    const ns = readFileSync(namespaceFile, "utf8").trim();
    if (ns !== "") return ns;
  }
  return "calico-system";
}

/**
 * The ConfigMap progress store, with the Kubernetes client loaded on first use: the operator sets
 * PUSH_URL everywhere but enables emitting only in Calico Cloud, and a paused emitter should not
 * cost the client's memory (issue 15, "serve at rest").
 */
function lazyConfigMapState(kubeconfig: string, namespace: string): EmitterState {
  let real: Promise<EmitterState> | undefined;
  const build = async () => {
    const [{ loadKubeConfig }, { configMapState }] = await Promise.all([import("../kube/index.js"), import("./configmap-state.js")]);
    const { kc } = loadKubeConfig(kubeconfig);
    if (!kc) throw new Error("no Kubernetes configuration (KUBECONFIG or a service account)");
    return configMapState(kc, namespace);
  };
  // A failed build is retried with the next load or save (the emitter backs off between them).
  const get = () =>
    (real ??= build().catch((e: unknown) => {
      real = undefined;
      throw e;
    }));
  return {
    where: `${namespace}/flow-emitter-state`,
    load: async () => (await get()).load(),
    save: async (endSec) => (await get()).save(endSec),
  };
}

/** The URL without user info or query (upstream's logrusr.RedactURL: they may hold credentials). */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.username || u.password) {
      u.username = "redacted";
      u.password = "";
    }
    u.search = "";
    return u.toString();
  } catch {
    return "[invalid url]";
  }
}
