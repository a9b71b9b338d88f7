import { existsSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";

/** Where the service-account files of a pod are mounted (client-node's in-cluster paths). */
export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** How a {@link KubeConfig} was found, for the start-up log. */
export type KubeConfigSource = "kubeconfig" | "in-cluster" | "none";

/**
 * Loads the Kubernetes client configuration: the kubeconfig file at `path` when given (the
 * `KUBECONFIG` setting or `--kubeconfig`), else the in-cluster service account when its token is
 * mounted (`inClusterPrefix` moves the mount root, for tests), else none — the bridge then runs
 * without Kubernetes and every address resolves to `Network`. Throws when `path` is given but
 * cannot be read, so a typo stops start-up instead of silently losing identities.
 */
export function loadKubeConfig(path: string, inClusterPrefix = ""): { kc?: KubeConfig; source: KubeConfigSource } {
  if (path !== "") {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return { kc, source: "kubeconfig" };
  }
  if (existsSync(`${inClusterPrefix}${SERVICE_ACCOUNT_TOKEN}`)) {
    const kc = new KubeConfig();
    // Reads KUBERNETES_SERVICE_HOST/PORT itself; those are the cluster's, not our settings.
    kc.loadFromCluster(inClusterPrefix || undefined);
    return { kc, source: "in-cluster" };
  }
  return { source: "none" };
}
