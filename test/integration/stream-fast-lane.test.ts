import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SESSION_HEADER } from "../../src/auth/index.js";
import { FlowResultSchema, FlowStreamRequestSchema, FlowUpdateSchema, MatchType, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { Verb } from "../../src/gen/tributary/session/v1/session_pb.js";
import { grpcFrame, rawConnect } from "../helpers/raw-grpc.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { useTokenIssuer } from "../helpers/token-issuer.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// Fast-lane specifics of gRPC Flows.Stream (STREAM_FAST_LANE, DESIGN §5), on raw HTTP/2 so the
// tests control framing, compression and headers. W = 1 s with a manual clock (see stream.test.ts).
const T0 = 1_700_000_010;
const W = 1;

type StreamRequestInit = Parameters<typeof create<typeof FlowStreamRequestSchema>>[1];

/** A raw gRPC Flows/Stream call: its response messages arrive in `messages` as they come. */
interface RawStream {
  /** Payloads of the response messages received so far. */
  readonly messages: Buffer[];
  readonly headers: Promise<http2.IncomingHttpHeaders>;
  /** Status once the call ended (trailers, or trailers-only headers). */
  readonly done: Promise<{ status: number | undefined; message: string }>;
  /** Resolves once at least `n` messages were received. */
  atLeast(n: number): Promise<Buffer[]>;
  cancel(): void;
}

function rawStream(port: number, body: Buffer[], headers: http2.OutgoingHttpHeaders = {}): RawStream {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  const req = session.request({ ":method": "POST", ":path": "/goldmane.Flows/Stream", "content-type": "application/grpc", te: "trailers", ...headers });
  const messages: Buffer[] = [];
  let pending = Buffer.alloc(0);
  let all: http2.IncomingHttpHeaders = {};
  const waiters = new Set<() => void>();
  const headersP = new Promise<http2.IncomingHttpHeaders>((resolve) =>
    req.on("response", (h) => {
      all = { ...h };
      resolve(h);
    }),
  );
  req.on("trailers", (t) => (all = { ...all, ...t }));
  req.on("data", (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    let pos = 0;
    while (pending.length - pos >= 5 && pending.length - pos - 5 >= pending.readUInt32BE(pos + 1)) {
      const len = pending.readUInt32BE(pos + 1);
      messages.push(Buffer.from(pending.subarray(pos + 5, pos + 5 + len)));
      pos += 5 + len;
    }
    pending = pending.subarray(pos);
    for (const w of [...waiters]) w();
  });
  req.on("error", () => undefined);
  const done = new Promise<{ status: number | undefined; message: string }>((resolve) =>
    req.on("close", () => {
      session.close();
      for (const w of [...waiters]) w();
      resolve({ status: all["grpc-status"] === undefined ? undefined : Number(all["grpc-status"]), message: decodeURIComponent(String(all["grpc-message"] ?? "")) });
    }),
  );
  for (const b of body) req.write(b);
  req.end();
  return {
    messages,
    headers: headersP,
    done,
    atLeast: (n) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length >= n) {
            waiters.delete(check);
            resolve(messages.slice(0, n));
          } else if (req.closed) {
            waiters.delete(check);
            reject(new Error(`stream closed after ${messages.length} of ${n} messages`));
          }
        };
        waiters.add(check);
        check();
      }),
    cancel: () => req.close(http2.constants.NGHTTP2_CANCEL),
  };
}

const requestFrame = (init: StreamRequestInit = {}, compressed = false) => grpcFrame(toBinary(FlowStreamRequestSchema, create(FlowStreamRequestSchema, init)), compressed);
const names = (payloads: Buffer[]) => payloads.map((p) => fromBinary(FlowResultSchema, p).flow!.Key!.sourceName);

async function ingest(t: TestServer, updates: FlowUpdate[], headers: Record<string, string> = {}): Promise<void> {
  const r = await rawConnect(t.port, updates.map((u) => grpcFrame(toBinary(FlowUpdateSchema, u))), headers);
  expect(r.status).toBe(0);
}

function rollover(t: TestServer): void {
  t.clock.advance(W);
  t.server.aggregator.tick();
}

const servers: TestServer[] = [];
async function start(env: Record<string, string> = {}): Promise<TestServer> {
  const t = await startTestServer({ AGGREGATION_WINDOW: "1s", ...env }, T0);
  servers.push(t);
  return t;
}
afterEach(async () => {
  for (const t of servers.splice(0)) await t.close();
});

describe("gRPC Flows.Stream fast lane", () => {
  it("sends backfill and live batches byte-identical to the Connect path", async () => {
    const fast = await start({ STREAM_FAST_LANE: "true" });
    const connect = await start({ STREAM_FAST_LANE: "false" });
    const history = [wireUpdate(T0 - 5, { sourceName: "marker" }), wireUpdate(T0 - 4, { sourceName: "h1", destNamespace: "x" }), wireUpdate(T0 - 3, { sourceName: "h2" }, { sourceLabels: ["a=b", "c=d"] })];
    const live = ["l1", "l2", "l3"].map((s, i) => wireUpdate(T0 - 1, { sourceName: s, destPort: BigInt(80 + i) }));
    const calls = [];
    for (const t of [fast, connect]) {
      await ingest(t, history);
      const s = rawStream(t.port, [requestFrame({ startTimeGte: BigInt(T0 - 5) })]);
      expect(names(await s.atLeast(3))).toEqual(["marker", "h1", "h2"]);
      await ingest(t, live);
      rollover(t);
      await s.atLeast(6);
      calls.push(s);
    }
    const [a, b] = calls as [RawStream, RawStream];
    expect(names(a.messages)).toEqual(["marker", "h1", "h2", "l1", "l2", "l3"]);
    expect(a.messages.map((m) => m.toString("hex"))).toEqual(b.messages.map((m) => m.toString("hex")));
    for (const s of calls) s.cancel();
    expect(await metricValue(fast.registry, "tributary_stream_results_sent_total")).toBe(6);
  });

  it("one live batch reaches every stream with the same bytes", async () => {
    const t = await start();
    await ingest(t, [wireUpdate(T0 - 5, { sourceName: "marker" })]);
    const streams = Array.from({ length: 5 }, () => rawStream(t.port, [requestFrame({ startTimeGte: BigInt(T0 - 5) })]));
    for (const s of streams) await s.atLeast(1);
    await ingest(t, Array.from({ length: 50 }, (_, i) => wireUpdate(T0 - 1, { sourceName: `l${i}` })));
    rollover(t);
    const got = await Promise.all(streams.map((s) => s.atLeast(51)));
    for (const g of got) expect(g.map((m) => m.toString("hex"))).toEqual(got[0]!.map((m) => m.toString("hex")));
    for (const s of streams) s.cancel();
  });

  it("refuses an undecodable request with INVALID_ARGUMENT", async () => {
    const t = await start();
    const r = await rawStream(t.port, [grpcFrame(new Uint8Array([0x0a, 0x7f, 0x01]))]).done;
    expect(r.status).toBe(3);
    expect(r.message).toMatch(/^cannot decode goldmane.FlowStreamRequest/);
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0);
  });

  it("refuses a request over MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED", async () => {
    const t = await start({ MAX_MESSAGE_BYTES: "1024" });
    const big = requestFrame({ filter: { sourceNames: [{ value: "x".repeat(2000), type: MatchType.Exact }] } });
    const r = await rawStream(t.port, [big]).done;
    expect(r.status).toBe(8);
    expect(r.message).toMatch(/MAX_MESSAGE_BYTES/);
  });

  it("refuses a request with no message or two (UNIMPLEMENTED, as Connect does)", async () => {
    const t = await start();
    expect((await rawStream(t.port, []).done).status).toBe(12);
    expect((await rawStream(t.port, [requestFrame(), requestFrame()]).done).status).toBe(12);
  });

  it("accepts a gzip-compressed request announced by grpc-encoding; refuses one without it (INTERNAL)", async () => {
    const t = await start();
    await ingest(t, [wireUpdate(T0 - 5, { sourceName: "marker" }), wireUpdate(T0 - 4, { sourceName: "other" }), wireUpdate(T0 - 3, { sourceName: "wanted" })]);
    const init = { startTimeGte: BigInt(T0 - 5), filter: { sourceNames: [{ value: "wanted", type: MatchType.Exact }, { value: "mark", type: MatchType.Fuzzy }] } };
    const s = rawStream(t.port, [requestFrame(init, true)], { "grpc-encoding": "gzip" });
    expect(names(await s.atLeast(2))).toEqual(["marker", "wanted"]);
    s.cancel();
    const bad = await rawStream(t.port, [requestFrame(init, true)]).done;
    expect(bad.status).toBe(13);
    const unknown = await rawStream(t.port, [requestFrame(init)], { "grpc-encoding": "snappy" }).done;
    expect(unknown.status).toBe(12);
  });

  it("client cancellation frees the MAX_STREAMS slot", async () => {
    const t = await start({ MAX_STREAMS: "1" });
    await ingest(t, [wireUpdate(T0 - 5, { sourceName: "marker" })]);
    const s = rawStream(t.port, [requestFrame({ startTimeGte: BigInt(T0 - 5) })]);
    await s.atLeast(1);
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(1);
    const second = await rawStream(t.port, [requestFrame()]).done;
    expect([second.status, second.message]).toEqual([8, "max number of streams reached, try again later"]);
    s.cancel();
    await vi.waitFor(async () => expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0), { timeout: 5000, interval: 20 });
    const again = rawStream(t.port, [requestFrame({ startTimeGte: BigInt(T0 - 5) })]);
    expect(names(await again.atLeast(1))).toEqual(["marker"]);
    again.cancel();
  });

  it("ends an open stream with UNAVAILABLE at shutdown", async () => {
    const t = await start();
    const s = rawStream(t.port, [requestFrame()]);
    await s.headers;
    await t.server.close();
    expect(await s.done).toEqual({ status: 14, message: "server is shutting down" });
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0);
  });

  it("honours grpc-timeout with DEADLINE_EXCEEDED and frees the stream", async () => {
    const t = await start();
    const r = await rawStream(t.port, [requestFrame()], { "grpc-timeout": "150m" }).done;
    expect(r.status).toBe(4);
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0);
  });

  it("INVALID_ARGUMENT for a bad aggregation_interval, with Connect's message", async () => {
    const t = await start();
    const r = await rawStream(t.port, [requestFrame({ aggregationInterval: 15n })]).done;
    expect(r).toEqual({ status: 3, message: "aggregation_interval: must be 0 or the aggregation window (1s), got 15" });
  });
});

describe("gRPC Flows.Stream fast lane with AUTH_MODE=token", () => {
  const issuer = useTokenIssuer(T0);
  const token = issuer.token;
  const authed = () => start(issuer.env());

  it("refuses a call without a token with UNAUTHENTICATED and a wrong verb with PERMISSION_DENIED", async () => {
    const t = await authed();
    const r = await rawStream(t.port, [requestFrame()]).done;
    expect(r.status).toBe(16);
    expect(r.message).toMatch(/missing session token/);
    const ingestOnly = await rawStream(t.port, [requestFrame()], { [SESSION_HEADER]: token({ verb: Verb.INGEST }) }).done;
    expect(ingestOnly.status).toBe(7);
    expect(await metricValue(t.registry, "goldmane_num_streams")).toBe(0);
  });

  it("a namespace-scoped QUERY token sees only in-scope flows, backfill and live; an out-of-scope filter is PERMISSION_DENIED", async () => {
    const t = await authed();
    const ing = { [SESSION_HEADER]: token({ verb: Verb.INGEST, node: "n" }) };
    const pair = (s: string, d: string, start: number) => wireUpdate(start, { sourceName: `${s}-${d}`, sourceNamespace: s, destNamespace: d });
    await ingest(t, [pair("a", "a", T0 - 5), pair("c", "c", T0 - 4), pair("c", "a", T0 - 3)], ing);
    const q = { [SESSION_HEADER]: token({ verb: Verb.QUERY, namespaces: ["a"] }) };
    const s = rawStream(t.port, [requestFrame({ startTimeGte: BigInt(T0 - 5) })], q);
    expect(names(await s.atLeast(2))).toEqual(["a-a", "c-a"]);
    await ingest(t, [pair("d", "d", T0 - 1), pair("a", "d", T0 - 1)], ing);
    rollover(t);
    expect(names(await s.atLeast(3))).toEqual(["a-a", "c-a", "a-d"]);
    // Nothing else arrives: an unscoped stream of the same range sees all five.
    const all = rawStream(t.port, [requestFrame({ startTimeGte: BigInt(T0 - 5) })], { [SESSION_HEADER]: token({ verb: Verb.QUERY }) });
    expect(names(await all.atLeast(5)).sort()).toEqual(["a-a", "a-d", "c-a", "c-c", "d-d"]);
    expect(s.messages.length).toBe(3);
    s.cancel();
    all.cancel();
    const out = { sourceNamespaces: [{ value: "c", type: MatchType.Exact }], destNamespaces: [{ value: "d", type: MatchType.Exact }] };
    const denied = await rawStream(t.port, [requestFrame({ filter: out })], q).done;
    expect(denied).toEqual({ status: 7, message: "namespaces out of the token's scope (a)" });
  });
});
