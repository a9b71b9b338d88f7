import { CoreV1Api, type KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import type { EmitterState } from "./emitter.js";

/** Goldmane's names (goldmane/pkg/emitter/emitter.go `configMapKey`). */
export const STATE_CONFIGMAP = "flow-emitter-state";
export const STATE_KEY = "latestTimestamp";
const statusOf = (e: unknown): number | undefined => {
  const code = (e as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
};

/**
 * Emitter progress in ConfigMap `flow-emitter-state`, key `latestTimestamp` (the end of the last
 * window emitted, Unix seconds as a decimal string), exactly as Goldmane keeps it, so either can
 * take over from the other. Reads return null when the ConfigMap or the key is missing; other
 * API errors are thrown (the emitter retries rather than guess). Writes read, then update with
 * the read resourceVersion (or create); a conflict is retried once against the newer object.
 */
export function configMapState(kc: KubeConfig, namespace: string): EmitterState {
  const api = kc.makeApiClient(CoreV1Api);
  const read = async (): Promise<V1ConfigMap | null> => {
    try {
      return await api.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace });
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  };
  const write = async (endSec: number): Promise<void> => {
    const cm = await read();
    if (cm === null) {
      await api.createNamespacedConfigMap({ namespace, body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: STATE_CONFIGMAP, namespace }, data: { [STATE_KEY]: String(endSec) } } });
      return;
    }
    cm.data = { ...(cm.data ?? {}), [STATE_KEY]: String(endSec) };
    await api.replaceNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace, body: cm });
  };
  return {
    where: `${namespace}/${STATE_CONFIGMAP}`,
    async load() {
      const cm = await read();
      const raw = cm?.data?.[STATE_KEY];
      if (raw === undefined) return null;
      if (!/^\d+$/.test(raw.trim())) throw new Error(`${STATE_KEY} is not a Unix time: "${raw}"`);
      return Number(raw.trim());
    },
    async save(endSec) {
      try {
        await write(endSec);
      } catch (e) {
        // 409: someone else wrote in between (or a create raced): once more on the fresh object.
        if (statusOf(e) !== 409) throw e;
        await write(endSec);
      }
    },
  };
}
