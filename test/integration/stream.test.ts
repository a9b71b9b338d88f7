import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FlowCollector, Flows, MatchType, type FlowResult, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { loadServeConfig } from "../../src/config/serve-config.js";
import { systemClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTributaryServer, type TributaryServer } from "../../src/server/app.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// W = 1 s. With the manual clock at T0 (a bucket start) the streaming bucket is [T0−1, T0) and
// the newest ready one [T0−2, T0−1); advancing the clock by 1 s and ticking rolls over once.
const T0 = 1_700_000_010;
const W = 1;

// gRPC runs against both stream paths (DESIGN §5): the fast lane (STREAM_FAST_LANE=true, the
// default) and Connect; the other protocols are always served by Connect.
const transports: Record<string, (baseUrl: string) => Transport> = {
  "grpc (fast lane)": (baseUrl) => createGrpcTransport({ baseUrl }),
  "grpc (Connect)": (baseUrl) => createGrpcTransport({ baseUrl }),
  "grpc-web-h1": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  "grpc-web-h2": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  "connect-h1": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  "connect-json-h1": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "connect-h2": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" }),
};

let ts: TestServer | undefined;
let real: TributaryServer | undefined;
afterEach(async () => {
  await ts?.close();
  await real?.close();
  ts = undefined;
  real = undefined;
});

async function ingest(baseUrl: string, updates: FlowUpdate[]): Promise<void> {
  const client = createClient(FlowCollector, createGrpcTransport({ baseUrl }));
  async function* gen() {
    yield* updates;
  }
  let receipts = 0;
  for await (const _ of client.connect(gen())) receipts++;
  expect(receipts).toBe(updates.length);
}

/** Rolls the manual clock forward one window and lets the aggregator roll over. */
function rollover(t: TestServer): void {
  t.clock.advance(W);
  t.server.aggregator.tick();
}

const summary = (r: FlowResult) => ({
  src: r.flow!.Key!.sourceName,
  start: Number(r.flow!.startTime),
  end: Number(r.flow!.endTime),
  packetsIn: Number(r.flow!.packetsIn),
});

async function codeOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

/**
 * Opens a stream that backfills from a marker flow at T0−5: receiving the marker proves the
 * subscription is registered, so no live batch can be missed by racing the registration.
 */
async function openSynced(t: TestServer, transport: Transport, signal: AbortSignal, init: { filter?: { sourceNames: { value: string; type: MatchType }[] } } = {}) {
  const it = createClient(Flows, transport).stream({ startTimeGte: BigInt(T0 - 5), ...init }, { signal })[Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.done).toBe(false);
  expect(summary(first.value as FlowResult)).toMatchObject({ src: "marker", start: T0 - 5, end: T0 - 4 });
  return it;
}

/** The server settings of a transport's row: only "grpc (Connect)" turns the fast lane off. */
const laneEnv = (proto: string) => ({ STREAM_FAST_LANE: proto === "grpc (Connect)" ? "false" : "true" });

describe.each(Object.keys(transports))("Flows.Stream over %s", (proto) => {
  it("backfills, then receives the live batch of each rollover; cancelling frees the stream", async () => {
    ts = await startTestServer({ AGGREGATION_WINDOW: "1s", ...laneEnv(proto) }, T0);
    const t = ts;
    await ingest(t.baseUrl, [wireUpdate(T0 - 5, { sourceName: "marker" }), wireUpdate(T0 - 3, { sourceName: "history" })]);
    const ac = new AbortController();
    const it = await openSynced(t, transports[proto]!(t.baseUrl), ac.signal);
    expect(summary((await it.next()).value as FlowResult)).toMatchObject({ src: "history", start: T0 - 3 });
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(1);

    await ingest(t.baseUrl, [wireUpdate(T0 - 1, { sourceName: `live-${proto}` }), wireUpdate(T0, { sourceName: "next" })]);
    rollover(t); // [T0−1, T0) is ready
    expect(summary((await it.next()).value as FlowResult)).toEqual({ src: `live-${proto}`, start: T0 - 1, end: T0, packetsIn: 1 });
    rollover(t); // [T0, T0+1)
    expect(summary((await it.next()).value as FlowResult)).toEqual({ src: "next", start: T0, end: T0 + 1, packetsIn: 1 });

    ac.abort();
    const err = await codeOf(it.next());
    expect(err.code).toBe(Code.Canceled);
    await vi.waitFor(async () => expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0), { timeout: 5000, interval: 20 });
    expect(await metricValue(t.registry, "tributary_stream_results_sent_total")).toBe(4);
  });
});

// Each case on its own protocol (Connect's), then over gRPC on both stream paths.
describe.each([
  ["own protocol", undefined],
  ["gRPC, fast lane", "true"],
  ["gRPC, Connect", "false"],
] as const)("Flows.Stream errors and limits (%s)", (_name, fastLane) => {
  const env = (e: Record<string, string>) => ({ ...e, STREAM_FAST_LANE: fastLane ?? "true" });
  /** The case's own transport, or gRPC in the gRPC rows. */
  const over = (own: Transport, baseUrl: string) => (fastLane === undefined ? own : createGrpcTransport({ baseUrl }));

  it("rejects an aggregation_interval other than 0 or W with INVALID_ARGUMENT naming the field", async () => {
    ts = await startTestServer(env({ AGGREGATION_WINDOW: "1s" }), T0);
    const client = createClient(Flows, over(createConnectTransport({ baseUrl: ts.baseUrl, httpVersion: "1.1" }), ts.baseUrl));
    const err = await codeOf((async () => {
      for await (const _ of client.stream({ aggregationInterval: 15n })) break;
    })());
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("aggregation_interval: must be 0 or the aggregation window (1s), got 15");
  });

  it("MAX_STREAMS: one stream too many gets RESOURCE_EXHAUSTED; the slot frees when a stream ends", async () => {
    ts = await startTestServer(env({ AGGREGATION_WINDOW: "1s", MAX_STREAMS: "1" }), T0);
    const t = ts;
    await ingest(t.baseUrl, [wireUpdate(T0 - 5, { sourceName: "marker" })]);
    const transport = createGrpcTransport({ baseUrl: t.baseUrl });
    const ac = new AbortController();
    const it = await openSynced(t, transport, ac.signal);
    const second = createClient(Flows, transport).stream({ startTimeGte: BigInt(T0 - 5) })[Symbol.asyncIterator]();
    const err = await codeOf(second.next());
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toBe("max number of streams reached, try again later");
    ac.abort();
    await codeOf(it.next());
    await vi.waitFor(async () => expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0), { timeout: 5000, interval: 20 });
    const ac2 = new AbortController();
    await openSynced(t, transport, ac2.signal);
    ac2.abort();
  });

  it("a live stream that falls behind its queue bound ends with RESOURCE_EXHAUSTED and is counted", async () => {
    ts = await startTestServer(env({ AGGREGATION_WINDOW: "1s", STREAM_QUEUE_SIZE: "1" }), T0);
    const t = ts;
    await ingest(t.baseUrl, [wireUpdate(T0 - 5, { sourceName: "marker" })]);
    const it = await openSynced(t, over(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" }), t.baseUrl), new AbortController().signal);
    // Three results in one batch against a queue of one: rendered in one slice, before the
    // consumer can take any, so the overflow is deterministic.
    await ingest(t.baseUrl, ["a", "b", "c"].map((s) => wireUpdate(T0 - 1, { sourceName: s })));
    rollover(t);
    const err = await codeOf(it.next());
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/^consumer too slow/);
    expect(await metricValue(t.registry, "tributary_stream_overflows_total", { reason: "queue_full" })).toBe(1);
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0);
  });

  it("filters with the List rules over the wire", async () => {
    ts = await startTestServer(env({ AGGREGATION_WINDOW: "1s" }), T0);
    const t = ts;
    await ingest(t.baseUrl, [wireUpdate(T0 - 5, { sourceName: "marker" }), wireUpdate(T0 - 4, { sourceName: "other" })]);
    const ac = new AbortController();
    const it = await openSynced(t, over(createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }), t.baseUrl), ac.signal, {
      filter: { sourceNames: [{ value: "mark", type: MatchType.Fuzzy }, { value: "wanted", type: MatchType.Exact }] },
    });
    await ingest(t.baseUrl, [wireUpdate(T0 - 1, { sourceName: "unwanted" }), wireUpdate(T0 - 1, { sourceName: "wanted" })]);
    rollover(t);
    expect(summary((await it.next()).value as FlowResult)).toMatchObject({ src: "wanted", start: T0 - 1 });
    ac.abort();
  });

  it("server close ends open streams with UNAVAILABLE", async () => {
    ts = await startTestServer(env({ AGGREGATION_WINDOW: "1s" }), T0);
    const t = ts;
    await ingest(t.baseUrl, [wireUpdate(T0 - 5, { sourceName: "marker" })]);
    const it = await openSynced(t, createGrpcTransport({ baseUrl: t.baseUrl }), new AbortController().signal);
    const pending = codeOf(it.next());
    await t.close();
    ts = undefined;
    expect((await pending).code).toBe(Code.Unavailable);
  });
});

describe.each([
  ["fast lane", "true"],
  ["Connect", "false"],
])("Flows.Stream on the real clock (gRPC, %s)", (_name, fastLane) => {
  it("delivers a live batch when the aggregator's own timer rolls over (W = 1 s)", async () => {
    const config = loadServeConfig({ HOST: "127.0.0.1", PORT: "0", HEALTH_ENABLED: "false", SHUTDOWN_TIMEOUT: "2s", AGGREGATION_WINDOW: "1s", STREAM_FAST_LANE: fastLane });
    real = createTributaryServer(config, { log: silentLogger(), clock: systemClock, registry: new Registry() });
    const { port } = await real.listen();
    const baseUrl = `http://127.0.0.1:${port}`;
    // Subscribe from the future bucket: nothing older can arrive, and that bucket can only come
    // as a live batch (it becomes ready two rollovers from now).
    const future = Math.floor(Date.now() / 1000) + 1;
    const ac = new AbortController();
    const it = createClient(Flows, createGrpcTransport({ baseUrl })).stream({ startTimeGte: BigInt(future) }, { signal: ac.signal })[Symbol.asyncIterator]();
    const first = it.next();
    await ingest(baseUrl, [wireUpdate(future, { sourceName: "timer" })]);
    const r = await first;
    expect(summary(r.value as FlowResult)).toEqual({ src: "timer", start: future, end: future + 1, packetsIn: 1 });
    ac.abort();
  });
});
