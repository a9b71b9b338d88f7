import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Action, EndpointType, Flows, Reporter, type Flow } from "../../src/gen/goldmane/api_pb.js";
import { SessionTable as V1Table, sessionRequestSchema } from "../../src/gen/openoffload/v1/openoffload_pb.js";
import { SessionTable as OpiTable, SessionRequestSchema } from "../../src/gen/opi_api/security/firewall/v1/openoffload_pb.js";
import { createOffloadSimServer, ipv4ToWire, manualClock, resolveSimConfig, type ManualClock, type OffloadSimServer, type SessionView } from "../../src/offload/index.js";
import { BRIDGE_DEFAULTS, createOffloadBridge, parseDeviceSpec, type BridgeConfig, type Dialect, type OffloadBridge } from "../../src/offload/bridge/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { recordedNode, recordedPod, recordedService, startFakeKubeApi, type FakeKubeApi } from "../helpers/fake-kube-api.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";

const W = 15;
/** Poll boundaries: an hour-aligned past, well inside the server's history and before its clock. */
const P0 = 1_699_998_300;
const SERVER_NOW = P0 + 40 * W + 7;

interface SessionInit {
  id: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: 6 | 17;
  action: number;
  proxyDst?: string;
}

const SESSIONS: Record<string, SessionInit> = {
  db: { id: 101, src: "10.0.1.5", sport: 40000, dst: "10.0.2.7", dport: 5432, proto: 6, action: 1 },
  web: { id: 102, src: "10.0.1.5", sport: 40001, dst: "10.96.0.10", dport: 80, proto: 6, action: 1 },
  dns: { id: 103, src: "203.0.113.9", sport: 5555, dst: "10.0.2.7", dport: 53, proto: 17, action: 0 },
  proxy: { id: 104, src: "10.0.1.5", sport: 40002, dst: "10.96.0.10", dport: 80, proto: 6, action: 4, proxyDst: "10.0.2.7" },
};

async function addSessions(dialect: Dialect, tapUrl: string, sessions: SessionInit[]): Promise<void> {
  const transport = createGrpcTransport({ baseUrl: tapUrl });
  if (dialect === "v1") {
    const res = await createClient(V1Table, transport).addSession(
      (async function* () {
        for (const s of sessions) {
          yield create(sessionRequestSchema, {
            sessionId: BigInt(s.id),
            inLif: 1,
            outLif: 2,
            sourceIp: ipv4ToWire(s.src),
            sourcePort: s.sport,
            destinationIp: ipv4ToWire(s.dst),
            destinationPort: s.dport,
            protocolId: s.proto,
            action: { actionType: s.action },
          });
        }
      })(),
    );
    expect(res.responseError).toEqual([]);
    return;
  }
  const res = await createClient(OpiTable, transport).addSession(
    (async function* () {
      for (const s of sessions) {
        yield create(SessionRequestSchema, {
          sessionId: { value: String(s.id) },
          inlif: 1,
          outlif: 2,
          sourceip: ipv4ToWire(s.src),
          sourceport: s.sport,
          destinationip: ipv4ToWire(s.dst),
          destinationport: s.dport,
          protocolid: s.proto,
          action: s.proxyDst ? { actiontype: s.action, proxysrcv4: ipv4ToWire("10.0.9.9"), proxydstv4: ipv4ToWire(s.proxyDst) } : { actiontype: s.action },
        });
      }
    })(),
  );
  expect(res.responseerror).toEqual([]);
}

async function deleteThroughTap(dialect: Dialect, tapUrl: string, id: number): Promise<void> {
  const transport = createGrpcTransport({ baseUrl: tapUrl });
  if (dialect === "v1") await createClient(V1Table, transport).deleteSession({ sessionId: BigInt(id) });
  else await createClient(OpiTable, transport).deleteSession({ sessionId: BigInt(id) });
}

interface Rig {
  ts: TestServer;
  kube: FakeKubeApi;
  sim: OffloadSimServer;
  simClock: ManualClock;
  simUrl: string;
  bridges: OffloadBridge[];
}

async function startRig(): Promise<Rig> {
  const ts = await startTestServer({}, SERVER_NOW);
  const kube = await startFakeKubeApi();
  kube.add("nodes", recordedNode({ name: "node-a", ip: "192.168.1.10" }));
  kube.add("pods", recordedPod({ name: "client-7d9f-x2x", generateName: "client-7d9f-", namespace: "shop", ip: "10.0.1.5", node: "node-a", labels: { app: "client", "projectcalico.org/namespace": "shop" } }));
  kube.add("pods", recordedPod({ name: "db-0", namespace: "shop", ip: "10.0.2.7", node: "node-a", labels: { app: "db" } }));
  kube.add("services", recordedService({ name: "web", namespace: "shop", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] }));
  const simClock = manualClock(P0 - 5);
  const config = resolveSimConfig({ seed: 7, traffic: { tickMs: 1000, packetsPerSec: [1, 50], bytesPerPacket: [64, 1500], finPerSec: 0, rstPerSec: 0, idlePerSec: 0 } });
  const sim = createOffloadSimServer(config, { host: "127.0.0.1", port: 0, autoTick: false }, { clock: simClock, registry: new Registry(), log: silentLogger() });
  const { rpc } = await sim.listen();
  return { ts, kube, sim, simClock, simUrl: `http://127.0.0.1:${rpc.port}`, bridges: [] };
}

async function stopRig(r: Rig): Promise<void> {
  for (const b of r.bridges) await b.stop();
  await r.sim.close(100);
  await r.kube.close();
  await r.ts.close();
}

function bridgeConfig(r: Rig, devices: string[], dialect: Dialect, over: Partial<BridgeConfig> = {}): BridgeConfig {
  return {
    ...BRIDGE_DEFAULTS,
    devices: devices.map((d) => parseDeviceSpec(d, { node: "node-a", dialect, exclusive: false })),
    collectorUrl: r.ts.baseUrl,
    intervalSec: W,
    kubeconfig: "",
    tapHost: "127.0.0.1",
    ...over,
  };
}

async function startBridge(r: Rig, config: BridgeConfig, registry = new Registry()): Promise<{ bridge: OffloadBridge; tapUrl: string; registry: Registry }> {
  const bridge = createOffloadBridge(config, { log: silentLogger(), registry, clock: r.ts.clock, kubeConfig: r.kube.kubeConfig(), autoPoll: false });
  r.bridges.push(bridge);
  const { taps } = await bridge.start();
  await bridge.kubeSynced();
  return { bridge, tapUrl: taps[0] ? `http://127.0.0.1:${taps[0].address.port}` : "", registry };
}

const snap = (sim: OffloadSimServer, id: number): SessionView => sim.device.get(BigInt(id));

async function listWindows(ts: TestServer): Promise<Flow[]> {
  const res = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({ aggregationInterval: BigInt(W), pageSize: 1000n });
  return res.flows.map((f) => f.flow!);
}

const counts = (f: Flow | undefined) =>
  f && {
    packetsIn: Number(f.packetsIn),
    packetsOut: Number(f.packetsOut),
    bytesIn: Number(f.bytesIn),
    bytesOut: Number(f.bytesOut),
    started: Number(f.numConnectionsStarted),
    completed: Number(f.numConnectionsCompleted),
    live: Number(f.numConnectionsLive),
  };

/** Expected Flow counters for a Dst-reported session between two snapshots. */
function dstDelta(a: SessionView | undefined, b: SessionView, life: { started?: number; completed?: number; live?: number }) {
  return {
    packetsIn: b.inPackets - (a?.inPackets ?? 0),
    packetsOut: b.outPackets - (a?.outPackets ?? 0),
    bytesIn: b.inBytes - (a?.inBytes ?? 0),
    bytesOut: b.outBytes - (a?.outBytes ?? 0),
    started: life.started ?? 0,
    completed: life.completed ?? 0,
    live: life.live ?? 1,
  };
}

describe.each(["v1", "opi"] as const)("offload bridge, %s dialect: emulator → bridge → Tributary", (dialect) => {
  let r: Rig;
  beforeEach(async () => {
    r = await startRig();
  });
  afterEach(async () => {
    await stopRig(r);
  });

  it("sends exact per-interval deltas, closes, vanishes and id reuse, with Kubernetes identities", async () => {
    const { bridge, tapUrl, registry } = await startBridge(r, bridgeConfig(r, [`${r.simUrl}?tap=0`], dialect));
    // Poll 1 (empty device): the baseline.
    expect((await bridge.pollOnce(P0))[0]).toMatchObject({ result: "baseline", flows: 0 });
    r.simClock.set(P0);
    const list = dialect === "opi" ? [SESSIONS.db!, SESSIONS.dns!, SESSIONS.proxy!] : [SESSIONS.db!, SESSIONS.dns!, SESSIONS.web!];
    await addSessions(dialect, tapUrl, list);
    const third = list[2]!;

    r.simClock.set(P0 + W);
    const a = { db: snap(r.sim, 101), dns: snap(r.sim, 103), third: snap(r.sim, third.id) };
    expect((await bridge.pollOnce(P0 + W))[0]).toMatchObject({ result: "ok", flows: 3 });

    r.simClock.set(P0 + 2 * W);
    const b = { db: snap(r.sim, 101), dns: snap(r.sim, 103), third: snap(r.sim, third.id) };
    await bridge.pollOnce(P0 + 2 * W);

    // Close db through the tap (a final read), then poll.
    r.simClock.set(P0 + 2 * W + 5);
    // Same clock reading as the delete: the counters the delete reply carries.
    const dbFinal = snap(r.sim, 101);
    await deleteThroughTap(dialect, tapUrl, 101);
    r.simClock.set(P0 + 3 * W);
    const c = { dns: snap(r.sim, 103), third: snap(r.sim, third.id) };
    await bridge.pollOnce(P0 + 3 * W);

    // dns vanishes behind the bridge's back (deleted on the device itself): its last delta is lost.
    r.simClock.set(P0 + 3 * W + 5);
    r.sim.device.delete(103n);
    // The third session's id is reused: deleted on the device, added again through the tap.
    r.sim.device.delete(BigInt(third.id));
    await addSessions(dialect, tapUrl, [third]);
    r.simClock.set(P0 + 4 * W);
    const d = { third: snap(r.sim, third.id) };
    await bridge.pollOnce(P0 + 4 * W);
    expect(await bridge.flush()).toBe(true);

    const flows = await listWindows(r.ts);
    const at = (startSec: number, pred: (f: Flow) => boolean) => flows.find((f) => Number(f.startTime) === startSec && pred(f));
    const isDb = (f: Flow) => f.Key!.destName === "db-0" && f.Key!.destPort === 5432n;
    const isDns = (f: Flow) => f.Key!.proto === "udp";
    const isThird = (f: Flow) => f.Key!.destPort === 80n;

    // Identities: pod with generateName → "client-7d9f-*", pod without → its name; labels of the
    // resolved pod without projectcalico.org/*; reporter Dst (the destination is on node-a).
    const db1 = at(P0, isDb)!;
    expect(db1.Key).toMatchObject({
      sourceName: "client-7d9f-*",
      sourceNamespace: "shop",
      sourceType: EndpointType.WorkloadEndpoint,
      destName: "db-0",
      destNamespace: "shop",
      destType: EndpointType.WorkloadEndpoint,
      destServiceName: "-",
      destServicePortName: "-",
      destServicePort: 0n,
      proto: "tcp",
      reporter: Reporter.Dst,
      action: Action.Allow,
    });
    expect(db1.sourceLabels).toEqual(["app=client"]);
    expect(db1.destLabels).toEqual(["app=db"]);
    // Flow IPs from the session (issue 13 item 6)
    expect(db1.sourceIps).toEqual(["10.0.1.5"]);
    expect(db1.destIps).toEqual(["10.0.2.7"]);
    expect(db1.endTime).toBe(BigInt(P0 + W));
    expect(counts(db1)).toEqual(dstDelta(undefined, a.db, { started: 1 }));
    expect(counts(at(P0 + W, isDb))).toEqual(dstDelta(a.db, b.db, {}));
    expect(counts(at(P0 + 2 * W, isDb))).toEqual(dstDelta(b.db, dbFinal, { completed: 1, live: 0 }));
    expect(at(P0 + 3 * W, isDb)).toBeUndefined();

    // DROP from an unknown public address → Network "pub", Deny.
    const dns1 = at(P0, isDns)!;
    expect(dns1.Key).toMatchObject({ sourceName: "pub", sourceNamespace: "-", sourceType: EndpointType.Network, destName: "db-0", action: Action.Deny, proto: "udp", destPort: 53n });
    expect(counts(at(P0 + 2 * W, isDns))).toEqual(dstDelta(b.dns, c.dns, {}));
    // Vanished: completed, no counters (the final delta is lost and counted).
    expect(counts(at(P0 + 3 * W, isDns))).toEqual({ packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, started: 0, completed: 1, live: 0 });

    const third1 = at(P0, isThird)!;
    if (dialect === "v1") {
      // To a Service VIP: the service fields, the destination stays the VIP (Network pvt); the
      // source is the local pod, so the reporter is Src and in/out swap.
      expect(third1.Key).toMatchObject({ destName: "pvt", destType: EndpointType.Network, destServiceName: "web", destServiceNamespace: "shop", destServicePortName: "http", destServicePort: 80n, reporter: Reporter.Src });
      expect(counts(third1)).toMatchObject({ packetsOut: a.third.inPackets, packetsIn: a.third.outPackets, bytesOut: a.third.inBytes, bytesIn: a.third.outBytes });
    } else {
      // PROXY: identity from the backend address, service fields from the original destination.
      expect(third1.Key).toMatchObject({ destName: "db-0", destType: EndpointType.WorkloadEndpoint, destServiceName: "web", destServicePortName: "http", destServicePort: 80n, reporter: Reporter.Dst });
      expect(counts(third1)).toEqual(dstDelta(undefined, a.third, { started: 1 }));
    }
    // Id reuse: the old instance completes, the new one starts and counts from zero.
    const reuse = at(P0 + 3 * W, isThird)!;
    expect(Number(reuse.numConnectionsStarted)).toBe(1);
    expect(Number(reuse.numConnectionsCompleted)).toBe(1);
    expect(Number(reuse.numConnectionsLive)).toBe(1);
    expect(Number(reuse.packetsIn) + Number(reuse.packetsOut)).toBe(d.third.inPackets + d.third.outPackets);

    expect(await metricValue(registry, "tributary_offload_lost_final_deltas_total")).toBe(2);
    expect(await metricValue(registry, "tributary_offload_bridge_session_resets_total", { reason: "reuse" })).toBe(1);
    expect(await metricValue(registry, "tributary_offload_bridge_polls_total", { result: "ok" })).toBe(4);
    expect(await metricValue(registry, "tributary_offload_bridge_resolutions_total", { result: "hit" })).toBeGreaterThan(0);
    expect(await metricValue(registry, "tributary_offload_bridge_flows_sent_total")).toBeGreaterThan(0);
  });

  it("does not spike after a bridge restart: the first poll is a baseline", async () => {
    const first = await startBridge(r, bridgeConfig(r, [`${r.simUrl}?tap=0`], dialect));
    await first.bridge.pollOnce(P0);
    r.simClock.set(P0);
    await addSessions(dialect, first.tapUrl, [SESSIONS.db!]);
    r.simClock.set(P0 + W);
    await first.bridge.pollOnce(P0 + W);
    await first.bridge.flush();
    const desc = first.bridge.catalog.lookup(parseDeviceSpec(r.simUrl, { node: "x", dialect, exclusive: false }).name, "101")!;
    await first.bridge.stop();
    r.bridges = [];

    // Two intervals pass unseen; the restarted bridge must not emit them on its first poll.
    r.simClock.set(P0 + 3 * W);
    const second = await startBridge(r, bridgeConfig(r, [r.simUrl], dialect));
    // The restarted bridge has no tap history: describe the session as a persisted catalog would.
    second.bridge.catalog.describe(parseDeviceSpec(r.simUrl, { node: "x", dialect, exclusive: false }).name, "101", desc);
    const base = snap(r.sim, 101);
    expect((await second.bridge.pollOnce(P0 + 3 * W))[0]).toMatchObject({ result: "baseline", flows: 0 });
    r.simClock.set(P0 + 4 * W);
    const next = snap(r.sim, 101);
    await second.bridge.pollOnce(P0 + 4 * W);
    await second.bridge.flush();

    const flows = (await listWindows(r.ts)).filter((f) => f.Key!.destPort === 5432n);
    expect(flows.map((f) => Number(f.startTime)).sort()).toEqual([P0, P0 + 3 * W]);
    const after = flows.find((f) => Number(f.startTime) === P0 + 3 * W)!;
    expect(counts(after)).toEqual(dstDelta(base, next, {}));
  });
});

describe("offload bridge: failures", () => {
  let r: Rig;
  beforeEach(async () => {
    r = await startRig();
  });
  afterEach(async () => {
    await stopRig(r);
  });

  it("keeps polling the healthy device when another is down or answers garbage", async () => {
    const devices = [`${r.simUrl}?tap=0`, "http://127.0.0.1:1", `${r.kube.url}?node=node-b`];
    const { bridge, tapUrl, registry } = await startBridge(r, bridgeConfig(r, devices, "v1", { deviceTimeoutMs: 2000 }));
    const first = await bridge.pollOnce(P0);
    expect(first.map((x) => x.result)).toEqual(["baseline", "error", "error"]);
    r.simClock.set(P0);
    await addSessions("v1", tapUrl, [SESSIONS.db!]);
    r.simClock.set(P0 + W);
    const second = await bridge.pollOnce(P0 + W);
    expect(second.map((x) => x.result)).toEqual(["ok", "error", "error"]);
    expect(await bridge.flush()).toBe(true);
    expect((await listWindows(r.ts)).filter((f) => f.Key!.destName === "db-0")).toHaveLength(1);
    expect(await metricValue(registry, "tributary_offload_bridge_device_errors_total", { device: "127.0.0.1:1" })).toBe(2);
    expect(await metricValue(registry, "tributary_offload_bridge_device_errors_total", { device: new URL(r.kube.url).host })).toBe(2);
  });

  it("runs without Kubernetes: every address is Network pub/pvt", async () => {
    const config = bridgeConfig(r, [`${r.simUrl}?tap=0`], "v1");
    const bridge = createOffloadBridge(config, { log: silentLogger(), registry: new Registry(), clock: r.ts.clock, autoPoll: false });
    r.bridges.push(bridge);
    const { taps } = await bridge.start();
    await bridge.pollOnce(P0);
    r.simClock.set(P0);
    await addSessions("v1", `http://127.0.0.1:${taps[0]!.address.port}`, [SESSIONS.dns!]);
    r.simClock.set(P0 + W);
    await bridge.pollOnce(P0 + W);
    await bridge.flush();
    const [f] = await listWindows(r.ts);
    expect(f!.Key).toMatchObject({ sourceName: "pub", sourceType: EndpointType.Network, destName: "pvt", destType: EndpointType.Network, destNamespace: "-" });
  });

  it("reconnects to the collector and replays the last minutes without double counting", async () => {
    // The server's clock is 10 minutes past these polls: widen the replay horizon to cover them.
    const { bridge, tapUrl, registry } = await startBridge(r, bridgeConfig(r, [`${r.simUrl}?tap=0`], "v1", { replayHorizonSec: 3600 }));
    await bridge.pollOnce(P0);
    r.simClock.set(P0);
    await addSessions("v1", tapUrl, [SESSIONS.db!]);
    r.simClock.set(P0 + W);
    const a = snap(r.sim, 101);
    await bridge.pollOnce(P0 + W);
    expect(await bridge.flush()).toBe(true);
    // Restart the aggregator's listener on the same port: the stream breaks, the bridge reconnects.
    const port = r.ts.port;
    await r.ts.close();
    r.ts = await startTestServer({ PORT: String(port) }, SERVER_NOW);
    r.simClock.set(P0 + 2 * W);
    const b = snap(r.sim, 101);
    await bridge.pollOnce(P0 + 2 * W);
    expect(await bridge.flush(15_000)).toBe(true);
    const flows = (await listWindows(r.ts)).filter((f) => f.Key!.destName === "db-0");
    // The new server got the first interval by replay and the second live, each once.
    expect(flows.map((f) => Number(f.startTime)).sort()).toEqual([P0, P0 + W]);
    expect(counts(flows.find((f) => Number(f.startTime) === P0 + W))).toEqual(dstDelta(a, b, {}));
    expect(await metricValue(registry, "tributary_offload_bridge_flows_sent_total", { replay: "true" })).toBeGreaterThan(0);
  });
});
