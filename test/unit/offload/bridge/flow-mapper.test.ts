import { describe, expect, it } from "vitest";
import { Action, EndpointType, Reporter } from "../../../../src/gen/goldmane/api_pb.js";
import { createResolver, IpIndex } from "../../../../src/kube/index.js";
import { INT64_MAX, mapSession, mergeFlows, networkName, protoName, toFlowUpdate, type MappedFlow, type SessionDelta, type SessionDescriptor } from "../../../../src/offload/bridge/index.js";

function index(onChange?: (address: string) => void): IpIndex {
  const ix = new IpIndex(60, onChange);
  ix.upsertPod({ metadata: { name: "api-5f7-abc", generateName: "api-5f7-", namespace: "prod", labels: { app: "api", "projectcalico.org/x": "y" } }, spec: { nodeName: "n1" }, status: { podIP: "10.1.0.5" } });
  ix.upsertPod({ metadata: { name: "solo", namespace: "prod", labels: { app: "solo" } }, spec: { nodeName: "n2" }, status: { podIPs: [{ ip: "fd00::5" }] } });
  ix.upsertPod({ metadata: { name: "hostnet", namespace: "kube-system" }, spec: { nodeName: "n1", hostNetwork: true }, status: { podIP: "192.168.0.1" } });
  ix.upsertNode({ metadata: { name: "n1", labels: { zone: "a" } }, status: { addresses: [{ type: "InternalIP", address: "192.168.0.1" }] } });
  ix.upsertService({ metadata: { name: "api", namespace: "prod" }, spec: { clusterIP: "10.96.0.1", ports: [{ name: "grpc", port: 443, protocol: "TCP" }, { port: 53, protocol: "UDP" }] } });
  return ix;
}

const delta: SessionDelta = { id: "1", inPackets: 10n, outPackets: 20n, inBytes: 1000n, outBytes: 2000n, started: 1, completed: 0, live: 1 };
const desc = (o: Partial<SessionDescriptor>): SessionDescriptor => ({ sourceIp: "8.8.8.8", sourcePort: 1234, destinationIp: "10.1.0.5", destinationPort: 8080, protocol: 6, action: 1, ...o });

describe("mapSession (reference §3.3)", () => {
  const resolver = createResolver(index(), { max: 100 });
  const ctx = { nodeName: "n1", resolver };

  it("pod → WorkloadEndpoint generateName*, labels without projectcalico.org, Dst reporter on the device's node", () => {
    const f = mapSession(desc({}), delta, ctx) as MappedFlow;
    expect(f.key).toMatchObject({ sourceName: "pub", sourceNamespace: "-", sourceType: EndpointType.Network, destName: "api-5f7-*", destNamespace: "prod", destType: EndpointType.WorkloadEndpoint, reporter: Reporter.Dst, proto: "tcp", action: Action.Allow, destPort: 8080 });
    expect(f.destLabels).toEqual(["app=api"]);
    // Dst: in = source → destination, out = replies.
    expect([f.packetsIn, f.packetsOut, f.bytesIn, f.bytesOut]).toEqual([10n, 20n, 1000n, 2000n]);
  });

  it("pod without generateName keeps its name; IPv6 ULA is pvt; Src reporter when only the source is local (in/out swap)", () => {
    const f = mapSession(desc({ sourceIp: "10.1.0.5", destinationIp: "fd00::5" }), delta, ctx) as MappedFlow;
    expect(f.key).toMatchObject({ sourceName: "api-5f7-*", destName: "solo", reporter: Reporter.Src });
    expect([f.packetsOut, f.packetsIn]).toEqual([10n, 20n]);
    const g = mapSession(desc({ destinationIp: "fd12::1" }), delta, ctx) as MappedFlow;
    expect(g.key).toMatchObject({ destName: "pvt", destType: EndpointType.Network });
  });

  it("node address → HostEndpoint (the node wins over a host-network pod)", () => {
    const f = mapSession(desc({ destinationIp: "192.168.0.1" }), delta, ctx) as MappedFlow;
    expect(f.key).toMatchObject({ destName: "n1", destNamespace: "-", destType: EndpointType.HostEndpoint, reporter: Reporter.Dst });
    expect(f.destLabels).toEqual(["zone=a"]);
  });

  it("Service ClusterIP: service fields, destination stays the VIP; unnamed port → '-'", () => {
    const f = mapSession(desc({ destinationIp: "10.96.0.1", destinationPort: 443 }), delta, ctx) as MappedFlow;
    expect(f.key).toMatchObject({ destName: "pvt", destType: EndpointType.Network, destServiceName: "api", destServiceNamespace: "prod", destServicePortName: "grpc", destServicePort: 443 });
    const u = mapSession(desc({ destinationIp: "10.96.0.1", destinationPort: 53, protocol: 17 }), delta, ctx) as MappedFlow;
    expect(u.key).toMatchObject({ destServicePortName: "-", destServicePort: 53, proto: "udp" });
  });

  it("PROXY: identity from the backend, service from the original destination", () => {
    const f = mapSession(desc({ destinationIp: "10.96.0.1", destinationPort: 443, action: 4, proxyDestinationIp: "10.1.0.5" }), delta, ctx) as MappedFlow;
    expect(f.key).toMatchObject({ destName: "api-5f7-*", destType: EndpointType.WorkloadEndpoint, destServiceName: "api", destServicePort: 443 });
  });

  it("actions, protocols and networks", () => {
    expect((mapSession(desc({ action: 0 }), delta, ctx) as MappedFlow).key.action).toBe(Action.Deny);
    for (const a of [1, 2, 3, 4]) expect((mapSession(desc({ action: a }), delta, ctx) as MappedFlow).key.action).toBe(Action.Allow);
    expect(mapSession(desc({ action: 9 }), delta, ctx)).toBe("unknown_action");
    expect([protoName(6), protoName(17), protoName(0), protoName(132)]).toEqual(["tcp", "udp", "0", "132"]);
    expect(["10.0.0.1", "172.16.0.1", "172.32.0.1", "192.168.1.1", "1.1.1.1", "fc00::1", "2001:db8::1", ""].map(networkName)).toEqual(["pvt", "pvt", "pub", "pvt", "pub", "pvt", "pub", "pub"]);
  });

  it("remembers deleted pods for the grace period, then forgets them", () => {
    const cache = { hit: 0, miss: 0 };
    let r: ReturnType<typeof createResolver> | undefined;
    const ix = index((a) => r?.invalidate(a));
    r = createResolver(ix, { max: 100 }, { resolved: () => undefined, cache: (o) => void cache[o]++ });
    expect(r.resolve("10.1.0.5").endpoint?.name).toBe("api-5f7-abc");
    expect(r.resolve("10.1.0.5").endpoint?.name).toBe("api-5f7-abc");
    expect(cache).toEqual({ hit: 1, miss: 1 });
    ix.deletePod({ metadata: { name: "api-5f7-abc", namespace: "prod" } }, 1000);
    expect(r.resolve("10.1.0.5").endpoint?.name).toBe("api-5f7-abc");
    ix.expire(1061);
    expect(r.resolve("10.1.0.5").endpoint).toBeUndefined();
  });
});

describe("mergeFlows / toFlowUpdate", () => {
  const resolver = createResolver(index(), { max: 100 });
  it("sums sessions with one key, intersects labels, clamps to int64", () => {
    const a = mapSession(desc({}), delta, { nodeName: "n1", resolver }) as MappedFlow;
    const b = { ...a, destLabels: ["app=api", "x=1"], packetsIn: INT64_MAX };
    const [m, ...rest] = mergeFlows([a, b]);
    expect(rest).toEqual([]);
    expect(m!.started).toBe(2n);
    const u = toFlowUpdate(m!, 100, 115);
    expect(u.flow!.packetsIn).toBe(INT64_MAX);
    expect(u.flow!.destLabels).toEqual(["app=api"]);
    expect([u.flow!.startTime, u.flow!.endTime]).toEqual([100n, 115n]);
  });
});

describe("parseDeviceSpec", () => {
  it("reads options from the query and accepts grpc:// schemes", async () => {
    const { parseDeviceSpec } = await import("../../../../src/offload/bridge/index.js");
    const d = { node: "n0", dialect: "opi" as const, exclusive: false };
    expect(parseDeviceSpec("grpc://[fd00::7]:50052", d)).toMatchObject({ url: "http://[fd00::7]:50052", name: "[fd00::7]:50052", node: "n0", dialect: "opi" });
    expect(parseDeviceSpec("https://dpu:1?node=w1&dialect=v1&exclusive=true&ipv4=be&tap=9001", d)).toMatchObject({ url: "https://dpu:1", node: "w1", dialect: "v1", exclusive: true, ipv4Order: "be", tapPort: 9001 });
    expect(() => parseDeviceSpec("http://dpu:1?color=red", d)).toThrow(/unknown option "color"/);
    expect(() => parseDeviceSpec("ftp://dpu", d)).toThrow(/must be http/);
  });
});
