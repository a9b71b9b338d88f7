import { afterEach, describe, expect, it } from "vitest";
import { createKubeWatch, IpIndex, normalizeAddress, type KubeWatch } from "../../../src/kube/index.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { recordedNode, recordedPod, recordedService, startFakeKubeApi, type FakeKubeApi } from "../../helpers/fake-kube-api.js";

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("Kubernetes informers against recorded API responses (fake API server over HTTP)", () => {
  let kube: FakeKubeApi;
  let watch: KubeWatch;
  afterEach(async () => {
    await watch.stop();
    await kube?.close();
  });

  it("lists, follows adds, updates and deletes, and restarts after a dropped watch", async () => {
    kube = await startFakeKubeApi();
    kube.add("pods", recordedPod({ name: "a-1", generateName: "a-", namespace: "ns", ip: "10.0.0.1", node: "n1" }));
    kube.add("services", recordedService({ name: "svc", namespace: "ns", clusterIP: "10.96.0.5", ports: [{ port: 80 }] }));
    kube.add("nodes", recordedNode({ name: "n1", ip: "192.168.0.1" }));
    const changes: string[] = [];
    const index = new IpIndex(30, (a) => changes.push(a));
    let now = 1000;
    const errors: string[] = [];
    watch = createKubeWatch({ kc: kube.kubeConfig(), index, log: silentLogger(), nowSec: () => now, onError: (r) => errors.push(r), backoff: { initialMs: 20, maxMs: 100 } });
    await watch.start();
    await watch.synced();
    expect(index.endpoint("10.0.0.1")?.name).toBe("a-1");
    expect(index.service("10.96.0.5")?.name).toBe("svc");
    expect(index.endpoint("192.168.0.1")?.kind).toBe("node");

    // Update: the pod moves to a new address.
    kube.modify("pods", recordedPod({ name: "a-1", generateName: "a-", namespace: "ns", ip: "10.0.0.2", node: "n1" }));
    await until(() => index.endpoint("10.0.0.2")?.name === "a-1");
    expect(index.endpoint("10.0.0.1")).toBeUndefined();

    // The watch socket drops: the 1.x informer reports an error and stops; we restart it after a
    // backoff and it watches again from its last resourceVersion.
    kube.dropWatches();
    kube.add("pods", recordedPod({ name: "b-1", namespace: "ns", ip: "10.0.0.9", node: "n1" }));
    await until(() => index.endpoint("10.0.0.9")?.name === "b-1");
    expect(errors).toContain("pods");

    // Delete: remembered for the grace period, then gone.
    kube.remove("pods", recordedPod({ name: "b-1", namespace: "ns", ip: "10.0.0.9", node: "n1" }));
    await until(() => changes.filter((a) => a === "10.0.0.9").length >= 2);
    expect(index.endpoint("10.0.0.9")?.name).toBe("b-1");
    now = 1100;
    index.expire(now);
    await until(() => index.endpoint("10.0.0.9") === undefined);
    expect(kube.requests.filter((r) => r.startsWith("GET /api/v1/pods?watch=true")).length).toBeGreaterThanOrEqual(2);
  });

  it("normalises addresses (RFC 5952, IPv4-mapped IPv6 as IPv4)", () => {
    kube = undefined as never;
    watch = { stop: async () => undefined } as KubeWatch;
    expect(normalizeAddress("2001:DB8:0:0::1")).toBe("2001:db8::1");
    expect(normalizeAddress("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(normalizeAddress("nope")).toBe("");
  });
});
