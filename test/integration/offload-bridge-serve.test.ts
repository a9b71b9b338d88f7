import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { afterEach, expect, it } from "vitest";
import { EndpointType, Flows } from "../../src/gen/goldmane/api_pb.js";
import { loadServeConfig } from "../../src/config/serve-config.js";
import { createOffloadSimServer, ipv4ToWire, manualClock, resolveSimConfig } from "../../src/offload/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { recordedPod, startFakeKubeApi } from "../helpers/fake-kube-api.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";

const P0 = 1_699_998_300;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

it("serve runs the bridge from OFFLOAD_* and KUBECONFIG, through its own FlowCollector", async () => {
  const kube = await startFakeKubeApi();
  cleanup.push(() => kube.close());
  kube.add("pods", recordedPod({ name: "web-1", generateName: "web-", namespace: "site", ip: "10.0.3.3", node: "dpu-node" }));
  const dir = mkdtempSync(join(tmpdir(), "bridge-"));
  writeFileSync(join(dir, "kubeconfig"), kube.kubeconfigText());

  const simClock = manualClock(P0);
  const sim = createOffloadSimServer(resolveSimConfig({ seed: 3, traffic: { finPerSec: 0, rstPerSec: 0 } }), { host: "127.0.0.1", port: 0, autoTick: false }, { clock: simClock, registry: new Registry(), log: silentLogger() });
  const { rpc } = await sim.listen();
  cleanup.push(() => sim.close(100));

  const ts: TestServer = await startTestServer(
    { OFFLOAD_DEVICES: `http://127.0.0.1:${rpc.port}?dialect=v1`, OFFLOAD_NODE: "dpu-node", KUBECONFIG: join(dir, "kubeconfig") },
    P0 + 40 * 15,
  );
  cleanup.push(() => ts.close());
  const bridge = ts.server.offloadBridge!;
  expect(bridge).toBeDefined();
  await bridge.kubeSynced();
  await bridge.pollOnce(P0);
  // Added on the device directly (no tap here): the descriptor comes from the catalog API.
  sim.device.addSessions([{ id: "55", inLif: 1, outLif: 2, ipVersion: 0, sourceIp: ipv4ToWire("1.2.3.4"), sourceIpV6: new Uint8Array(), sourcePort: 999, destinationIp: ipv4ToWire("10.0.3.3"), destinationIpV6: new Uint8Array(), destinationPort: 443, protocol: 6, action: { type: 1, nextHop: 0, nextHopV6: new Uint8Array(), proxySrcV4: 0, proxyDstV4: 0, proxySrcV6: new Uint8Array(), proxyDstV6: new Uint8Array(), srcConnId: new Uint8Array(), dstConnId: new Uint8Array() }, cacheTimeoutSec: 0, srcConnId: new Uint8Array(), dstConnId: new Uint8Array() }], "v1");
  bridge.catalog.describe(`127.0.0.1:${rpc.port}`, "55", { sourceIp: "1.2.3.4", sourcePort: 999, destinationIp: "10.0.3.3", destinationPort: 443, protocol: 6, action: 1 });
  simClock.set(P0 + 15);
  const s = sim.device.get(55n);
  await bridge.pollOnce(P0 + 15);
  expect(await bridge.flush()).toBe(true);
  const res = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({});
  expect(res.flows).toHaveLength(1);
  const f = res.flows[0]!.flow!;
  expect(f.Key).toMatchObject({ sourceName: "pub", destName: "web-*", destNamespace: "site", destType: EndpointType.WorkloadEndpoint });
  expect([Number(f.packetsIn), Number(f.bytesOut)]).toEqual([s.inPackets, s.outBytes]);
  expect(await metricValue(ts.registry, "tributary_offload_bridge_polls_total", { result: "ok" })).toBe(1);
});

it("rejects a bad device spec and an interval that is not a multiple of the window", async () => {
  await expect(startTestServer({ OFFLOAD_DEVICES: "ftp://x", OFFLOAD_NODE: "n" })).rejects.toThrow(/OFFLOAD_DEVICES/);
  await expect(startTestServer({ OFFLOAD_DEVICES: "http://127.0.0.1:1", OFFLOAD_NODE: "n", OFFLOAD_INTERVAL: "20s" })).rejects.toThrow(/OFFLOAD_INTERVAL/);
  expect(loadServeConfig({ OFFLOAD_DEVICES: "http://a:1,http://b:2?node=x" }).offloadDevices).toEqual(["http://a:1", "http://b:2?node=x"]);
});
