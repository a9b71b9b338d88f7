import type * as http2 from "node:http2";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlowCollector, Flows, SortBy, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

const T0 = 1_700_000_010; // a multiple of 15 plus 10: mid-bucket
const W = 15;

let ts: TestServer;
beforeEach(async () => {
  ts = await startTestServer({}, T0);
});
afterEach(async () => {
  await ts.close();
});

/**
 * Client session options binding the source address (127.0.0.x = distinct reporting nodes).
 * Node passes them on to net.connect; its typings omit localAddress.
 */
function bindTo(localAddress?: string): http2.ClientSessionOptions | undefined {
  return localAddress ? ({ localAddress } as http2.ClientSessionOptions) : undefined;
}

type Proto = "grpc" | "grpc-web-h2" | "connect-h2" | "connect-json-h2";
const ingestTransports: Record<Proto, (url: string, localAddress?: string) => Transport> = {
  grpc: (baseUrl, localAddress) => createGrpcTransport({ baseUrl, nodeOptions: bindTo(localAddress) }),
  "grpc-web-h2": (baseUrl, localAddress) =>
    createGrpcWebTransport({ baseUrl, httpVersion: "2", nodeOptions: bindTo(localAddress) }),
  "connect-h2": (baseUrl, localAddress) =>
    createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: bindTo(localAddress) }),
  "connect-json-h2": (baseUrl, localAddress) =>
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false, nodeOptions: bindTo(localAddress) }),
};

const queryTransports: Record<string, (url: string) => Transport> = {
  grpc: (baseUrl) => createGrpcTransport({ baseUrl }),
  "grpc-web-h1": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  "grpc-web-h2": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  "connect-h1": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  "connect-json-h1": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "connect-h2": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" }),
};

/** Sends updates on one Connect stream and returns the number of receipts. */
async function send(transport: Transport, updates: FlowUpdate[]): Promise<number> {
  const client = createClient(FlowCollector, transport);
  let receipts = 0;
  async function* gen() {
    yield* updates;
  }
  for await (const _ of client.connect(gen())) receipts++;
  return receipts;
}

/** Sends one update at a time and waits for its receipt before the next (Felix's discipline). */
async function sendPingPong(transport: Transport, updates: FlowUpdate[]): Promise<number> {
  const client = createClient(FlowCollector, transport);
  let release: (() => void) | undefined;
  let receipts = 0;
  async function* gen() {
    for (const u of updates) {
      const got = new Promise<void>((r) => (release = r));
      yield u;
      await got;
    }
  }
  for await (const _ of client.connect(gen())) {
    receipts++;
    release?.();
  }
  return receipts;
}

const old = T0 - 5 * W; // well inside complete buckets

describe.each(Object.keys(ingestTransports) as Proto[])("ingest over %s", (proto) => {
  it("sends exactly one receipt per update, in lock-step too, and stores the flows", async () => {
    const t = ingestTransports[proto](ts.baseUrl);
    const updates = Array.from({ length: 50 }, (_, i) => wireUpdate(old, { destPort: BigInt(1000 + i) }));
    expect(await send(t, updates)).toBe(50);
    expect(await sendPingPong(t, [wireUpdate(old, { destPort: 1n }), wireUpdate(old, { destPort: 2n })])).toBe(2);
    const list = await createClient(Flows, t).list({});
    expect(list.meta?.totalResults).toBe(52n);
  });

  it("keeps the stream open and receipts malformed updates without storing them", async () => {
    const t = ingestTransports[proto](ts.baseUrl);
    const bad: FlowUpdate[] = [
      wireUpdate(old),
      { ...wireUpdate(old), flow: undefined },
      wireUpdate(old, {}, { packetsIn: -5n }),
      wireUpdate(old, { policies: { enforcedPolicies: [{ kind: 10, tier: "t", action: 2, policyIndex: 0n, ruleIndex: -1n }] } }),
      wireUpdate(old, { destPort: 9n }),
    ];
    const noKey = wireUpdate(old);
    noKey.flow!.Key = undefined;
    bad.splice(2, 0, noKey);
    expect(await send(t, bad)).toBe(bad.length);
    const list = await createClient(Flows, t).list({});
    expect(list.meta?.totalResults).toBe(2n);
    expect(await metricValue(ts.registry, "tributary_rejected_flows_total", { reason: "missing_flow" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_rejected_flows_total", { reason: "missing_key" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_rejected_flows_total", { reason: "negative_counter" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_rejected_flows_total", { reason: "end_of_tier_without_trigger" })).toBe(1);
  });
});

describe.each([
  ["fast lane", "true"],
  ["Connect", "false"],
])("dedup by reporting node (gRPC ingest via %s)", (_path, fastLane) => {
  beforeEach(async () => {
    await ts.close();
    ts = await startTestServer({ INGEST_FAST_LANE: fastLane }, T0);
  });

  it("does not count a replay from the same node after a reconnect twice", async () => {
    const batch = [wireUpdate(old), wireUpdate(old - W, {}, { packetsIn: 7n })];
    // Two separate connections (new source ports) from the same address 127.0.0.2.
    expect(await send(ingestTransports.grpc(ts.baseUrl, "127.0.0.2"), batch)).toBe(2);
    expect(await send(ingestTransports.grpc(ts.baseUrl, "127.0.0.2"), batch)).toBe(2);
    const list = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({});
    expect(list.flows).toHaveLength(1);
    expect(list.flows[0]!.flow!.packetsIn).toBe(8n);
    expect(await metricValue(ts.registry, "tributary_duplicate_flows_total")).toBe(2);
  });

  it("counts the same flow reported by two nodes twice", async () => {
    const batch = [wireUpdate(old)];
    await send(ingestTransports.grpc(ts.baseUrl, "127.0.0.2"), batch);
    await send(ingestTransports["connect-h2"](ts.baseUrl, "127.0.0.3"), batch);
    const list = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({});
    expect(list.flows).toHaveLength(1);
    expect(list.flows[0]!.flow!.packetsIn).toBe(2n);
    expect(list.flows[0]!.flow!.bytesOut).toBe(400n);
  });
});

describe.each(Object.keys(queryTransports))("Flows.List over %s", (name) => {
  it("answers with aggregated rows, sorted and paged", async () => {
    await send(ingestTransports.grpc(ts.baseUrl), [
      wireUpdate(old, { sourceName: "b-*" }),
      wireUpdate(old - W, { sourceName: "a-*" }),
      wireUpdate(old - 2 * W, { sourceName: "c-*" }),
      // Same node and key: a different end_time makes it another emission, not a duplicate.
      wireUpdate(old - 2 * W, { sourceName: "c-*" }, { packetsIn: 10n, endTime: BigInt(old - W) }),
    ]);
    const client = createClient(Flows, queryTransports[name]!(ts.baseUrl));
    const all = await client.list({});
    expect(all.meta).toMatchObject({ totalPages: 1n, totalResults: 3n });
    // Default order: start_time descending.
    expect(all.flows.map((f) => f.flow!.Key!.sourceName)).toEqual(["b-*", "a-*", "c-*"]);
    // Ids in order of first sight.
    expect(all.flows.map((f) => f.id)).toEqual([1n, 2n, 3n]);
    const c = all.flows[2]!.flow!;
    expect(c.packetsIn).toBe(11n);
    expect(c.startTime).toBe(BigInt(Math.floor((old - 2 * W) / W) * W));
    expect(c.endTime).toBe(c.startTime + BigInt(W));
    expect(c.sourceLabels).toEqual(["app=client"]);

    const byName = await client.list({ sortBy: [{ sortBy: SortBy.SourceName }], pageSize: 2n, page: 0n });
    expect(byName.flows.map((f) => f.flow!.Key!.sourceName)).toEqual(["a-*", "b-*"]);
    expect(byName.meta).toMatchObject({ totalPages: 2n, totalResults: 3n });
    const past = await client.list({ pageSize: 2n, page: 5n });
    expect(past.flows).toHaveLength(0);
    expect(past.meta).toMatchObject({ totalPages: 2n, totalResults: 3n });
  });

  it("rejects bad requests with INVALID_ARGUMENT naming the field", async () => {
    const client = createClient(Flows, queryTransports[name]!(ts.baseUrl));
    const cases: [object, string][] = [
      [{ page: -1n, pageSize: 10n }, "page"],
      [{ pageSize: -5n }, "page_size"],
      [{ startTimeGte: -10n, startTimeLt: -20n }, "start_time_gte"],
      [{ sortBy: [{ sortBy: SortBy.DestType }] }, "sort_by"],
      [{ sortBy: [{ sortBy: SortBy.Time }, { sortBy: SortBy.DestName }] }, "sort_by"],
      [{ aggregationInterval: 20n }, "aggregation_interval"],
    ];
    for (const [req, field] of cases) {
      const err = await client.list(req).then(
        () => null,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err, JSON.stringify(req, (_, v) => (typeof v === "bigint" ? String(v) : v))).not.toBeNull();
      expect(err!.code).toBe(Code.InvalidArgument);
      expect(err!.rawMessage).toContain(field);
    }
  });
});
