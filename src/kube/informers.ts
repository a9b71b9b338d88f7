import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type KubernetesObject, type V1Node, type V1Pod, type V1Service } from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.js";
import type { IpIndex } from "./ip-index.js";

/** The watched resources, as metric label values. */
export type KubeResource = "pods" | "services" | "nodes";

/** Dependencies of {@link createKubeWatch}. */
export interface KubeWatchDeps {
  kc: KubeConfig;
  index: IpIndex;
  log: Logger;
  /** Unix seconds (for deleted-pod grace periods). */
  nowSec: () => number;
  /** Told about every informer error (the bridge counts them). */
  onError?: (resource: KubeResource) => void;
  /** Restart backoff: first delay and cap (ms). */
  backoff?: { initialMs: number; maxMs: number };
}

/** The informers on Pods, Services and Nodes feeding one {@link IpIndex}. */
export interface KubeWatch {
  /** Starts all three informers (list, then watch) in the background; see {@link KubeWatch.synced}. */
  start(): Promise<void>;
  /** Resolves after every informer has completed its first list (and its items are indexed). */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Creates list+watch informers (@kubernetes/client-node) on Pods, Services and Nodes across all
 * namespaces, feeding `index` with adds, updates and deletes. A `410 Gone` is handled by the
 * informer itself (it re-lists); any other error stops a 1.x informer (reference ecosystem.md §4),
 * so it is restarted here after an exponential backoff, reset once it has run for a minute.
 */
export function createKubeWatch(deps: KubeWatchDeps): KubeWatch {
  const core = deps.kc.makeApiClient(CoreV1Api);
  const backoff = deps.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const log = deps.log;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const listed = new Map<KubeResource, () => void>();
  const syncedPromises: Promise<void>[] = [];

  const informers: { resource: KubeResource; informer: Informer<KubernetesObject> }[] = [];

  function add<T extends KubernetesObject>(
    resource: KubeResource,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    onUpsert: (o: T) => void,
    onDelete: (o: T) => void,
  ) {
    syncedPromises.push(new Promise<void>((resolve) => listed.set(resource, resolve)));
    const informer = makeInformer<T>(deps.kc, path, async () => {
      const result = await list();
      const done = listed.get(resource);
      if (done) {
        listed.delete(resource);
        // The informer indexes the items after this promise settles; resolve after that.
        setImmediate(done);
      }
      return result as never;
    });
    informer.on("add", onUpsert);
    informer.on("update", onUpsert);
    informer.on("delete", onDelete);
    let attempts = 0;
    let startedAt = Date.now();
    informer.on("error", (err: unknown) => {
      deps.onError?.(resource);
      if (stopped) return;
      if (Date.now() - startedAt > 60_000) attempts = 0;
      const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempts);
      attempts++;
      log.warn({ resource, err: err instanceof Error ? err.message : String(err), retryInMs: delay }, "kubernetes informer failed, restarting");
      const t = setTimeout(() => {
        timers.delete(t);
        if (stopped) return;
        startedAt = Date.now();
        void informer.start();
      }, delay);
      t.unref();
      timers.add(t);
    });
    informers.push({ resource, informer: informer as unknown as Informer<KubernetesObject> });
  }

  add<V1Pod>("pods", "/api/v1/pods", () => core.listPodForAllNamespaces(), (p) => deps.index.upsertPod(p), (p) => deps.index.deletePod(p, deps.nowSec()));
  add<V1Service>("services", "/api/v1/services", () => core.listServiceForAllNamespaces(), (s) => deps.index.upsertService(s), (s) => deps.index.deleteService(s));
  add<V1Node>("nodes", "/api/v1/nodes", () => core.listNode(), (n) => deps.index.upsertNode(n), (n) => deps.index.deleteNode(n));

  return {
    async start() {
      stopped = false;
      // start() resolves only once the watch response has begun; never hold the caller on it.
      for (const { resource, informer } of informers) {
        informer.start().catch((err: unknown) => log.warn({ resource, err: err instanceof Error ? err.message : String(err) }, "kubernetes informer did not start"));
      }
    },
    synced: () => Promise.all(syncedPromises).then(() => undefined),
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all(informers.map(({ informer }) => informer.stop()));
    },
  };
}
