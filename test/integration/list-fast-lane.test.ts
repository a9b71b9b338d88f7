import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { SESSION_HEADER } from "../../src/auth/index.js";
import { FlowListRequestSchema, FlowListResultSchema, FlowUpdateSchema, MatchType, SortBy, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { Verb } from "../../src/gen/tributary/session/v1/session_pb.js";
import { grpcFrame, rawConnect } from "../helpers/raw-grpc.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { useTokenIssuer } from "../helpers/token-issuer.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// The gRPC Flows.List lane (LIST_FAST_LANE, DESIGN §5), on raw HTTP/2 so the tests see the exact
// response bytes, headers and statuses; the Connect path (LIST_FAST_LANE=false) is the reference.
const T0 = 1_700_000_010;

type ListRequestInit = Parameters<typeof create<typeof FlowListRequestSchema>>[1];

interface RawUnary {
  status: number | undefined;
  message: string;
  headers: http2.IncomingHttpHeaders;
  /** Payloads of the response messages. */
  messages: Buffer[];
}

/**
 * A raw gRPC Flows/List call. `body` is written, then the request is ended unless `keepOpen`
 * (a call whose request never completes: for deadlines and shutdown).
 */
function rawList(port: number, body: Buffer[], headers: http2.OutgoingHttpHeaders = {}, keepOpen = false): Promise<RawUnary> & { seen: Promise<void> } {
  let seen!: Promise<void>;
  const result = new Promise<RawUnary>((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": "/goldmane.Flows/List", "content-type": "application/grpc", te: "trailers", ...headers });
    let all: http2.IncomingHttpHeaders = {};
    const data: Buffer[] = [];
    // A client stops sending once it has the status, as gRPC clients do.
    const statusIn = () => {
      if (all["grpc-status"] !== undefined && !req.writableEnded) req.end();
    };
    req.on("response", (h) => {
      all = { ...h };
      statusIn();
    });
    req.on("trailers", (t) => {
      all = { ...all, ...t };
      statusIn();
    });
    req.on("data", (d: Buffer) => data.push(d));
    req.on("error", () => undefined);
    req.on("close", () => {
      session.close();
      const buf = Buffer.concat(data);
      const messages: Buffer[] = [];
      for (let pos = 0; pos + 5 <= buf.length; ) {
        const len = buf.readUInt32BE(pos + 1);
        messages.push(buf.subarray(pos + 5, pos + 5 + len));
        pos += 5 + len;
      }
      const status = all["grpc-status"] === undefined ? undefined : Number(all["grpc-status"]);
      resolve({ status, message: decodeURIComponent(String(all["grpc-message"] ?? "")), headers: all, messages });
    });
    for (const b of body) req.write(b);
    if (!keepOpen) req.end();
    // Once the request's HEADERS went out (the stream has its id) and a later PING is answered,
    // the server has seen the call (nghttp2 may send a PING ahead of queued HEADERS, hence both).
    seen = keepOpen ? new Promise((r) => req.once("ready", () => setTimeout(() => session.ping(() => r()), 50))) : Promise.resolve();
  });
  return Object.assign(result, { seen });
}

const requestFrame = (init: ListRequestInit = {}, compressed = false) => grpcFrame(toBinary(FlowListRequestSchema, create(FlowListRequestSchema, init)), compressed);
const names = (r: RawUnary) => fromBinary(FlowListResultSchema, r.messages[0]!).flows.map((f) => f.flow!.Key!.sourceName);

async function ingest(t: TestServer, updates: FlowUpdate[], headers: Record<string, string> = {}): Promise<void> {
  const r = await rawConnect(t.port, updates.map((u) => grpcFrame(toBinary(FlowUpdateSchema, u))), headers);
  expect(r.status).toBe(0);
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

/** A few thousand keys over several buckets, with labels, policies and IPs: every row field set. */
function manyUpdates(n: number): FlowUpdate[] {
  return Array.from({ length: n }, (_, i) =>
    wireUpdate(T0 - 1 - (i % 5), { sourceName: `src-${i % 97}`, destName: `dst-${i}`, sourceNamespace: `ns-${i % 7}`, destPort: BigInt(1000 + (i % 300)) }, { sourceLabels: [`app=a${i % 3}`, "tier=web"], destLabels: ["x=y"] }),
  );
}

describe("gRPC Flows.List lane", () => {
  it("answers every request byte-identical to the Connect path, with the same headers that matter", async () => {
    const fast = await start({ LIST_FAST_LANE: "true" });
    const connect = await start({ LIST_FAST_LANE: "false" });
    const updates = manyUpdates(3000);
    for (const t of [fast, connect]) await ingest(t, updates);
    const requests: ListRequestInit[] = [
      {},
      { pageSize: 50n, page: 3n },
      { sortBy: [{ sortBy: SortBy.SourceName }], pageSize: 10n },
      { startTimeGte: BigInt(T0 - 3), aggregationInterval: 1n },
      { filter: { sourceNamespaces: [{ value: "ns-3", type: MatchType.Exact }] } },
    ];
    for (const init of requests) {
      const [a, b] = await Promise.all([rawList(fast.port, [requestFrame(init)]), rawList(connect.port, [requestFrame(init)])]);
      expect([a.status, b.status]).toEqual([0, 0]);
      expect(a.messages.length).toBe(1);
      expect(a.messages[0]!.equals(b.messages[0]!)).toBe(true);
      expect(a.headers["tributary-resolution"]).toBe("1");
      expect(b.headers["tributary-resolution"]).toBe("1");
      expect(a.headers["content-type"]).toBe("application/grpc");
    }
    // The unpaged answer is every key (3 000 rows, well past one HTTP/2 window).
    const all = await rawList(fast.port, [requestFrame()]);
    expect(fromBinary(FlowListResultSchema, all.messages[0]!).flows.length).toBe(3000);
  });

  it("refuses an undecodable request with INVALID_ARGUMENT", async () => {
    const t = await start();
    const r = await rawList(t.port, [grpcFrame(new Uint8Array([0x0a, 0x7f, 0x01]))]);
    expect(r.status).toBe(3);
    expect(r.message).toMatch(/^cannot decode goldmane.FlowListRequest/);
  });

  it("INVALID_ARGUMENT for a bad request, with the Connect path's message", async () => {
    const fast = await start();
    const connect = await start({ LIST_FAST_LANE: "false" });
    const bad = requestFrame({ pageSize: -1n });
    const [a, b] = await Promise.all([rawList(fast.port, [bad]), rawList(connect.port, [bad])]);
    expect(a.status).toBe(3);
    expect([a.status, a.message]).toEqual([b.status, b.message]);
  });

  it("refuses a request over MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED", async () => {
    const t = await start({ MAX_MESSAGE_BYTES: "1024" });
    const big = requestFrame({ filter: { sourceNames: [{ value: "x".repeat(2000), type: MatchType.Exact }] } });
    const r = await rawList(t.port, [big]);
    expect(r.status).toBe(8);
    expect(r.message).toMatch(/MAX_MESSAGE_BYTES/);
  });

  it("refuses a request with no message or two (UNIMPLEMENTED, as Connect does)", async () => {
    const t = await start();
    expect((await rawList(t.port, [])).status).toBe(12);
    expect((await rawList(t.port, [requestFrame(), requestFrame()])).status).toBe(12);
  });

  it("accepts a gzip-compressed request announced by grpc-encoding; refuses one without it", async () => {
    const t = await start();
    await ingest(t, [wireUpdate(T0 - 3, { sourceName: "other" }), wireUpdate(T0 - 2, { sourceName: "wanted" })]);
    const init = { filter: { sourceNames: [{ value: "wanted", type: MatchType.Exact }] } };
    const r = await rawList(t.port, [requestFrame(init, true)], { "grpc-encoding": "gzip" });
    expect(r.status).toBe(0);
    expect(names(r)).toEqual(["wanted"]);
    expect((await rawList(t.port, [requestFrame(init, true)])).status).toBe(13);
    expect((await rawList(t.port, [requestFrame(init)], { "grpc-encoding": "snappy" })).status).toBe(12);
  });

  it("honours grpc-timeout with DEADLINE_EXCEEDED for a request that never completes", async () => {
    const t = await start();
    const r = await rawList(t.port, [], { "grpc-timeout": "150m" }, true);
    expect(r.status).toBe(4);
  });

  it("ends a call still reading its request with UNAVAILABLE at shutdown", async () => {
    const t = await start();
    const call = rawList(t.port, [], {}, true);
    await call.seen;
    await t.server.close();
    expect(await call).toMatchObject({ status: 14, message: "server is shutting down" });
  });
});

describe("gRPC Flows.List lane with AUTH_MODE=token", () => {
  const issuer = useTokenIssuer(T0);
  const token = issuer.token;

  it("UNAUTHENTICATED without a token, PERMISSION_DENIED for a wrong verb or an out-of-scope filter; a scoped token sees its flows", async () => {
    const t = await start(issuer.env());
    const pair = (s: string, d: string, at: number) => wireUpdate(at, { sourceName: `${s}-${d}`, sourceNamespace: s, destNamespace: d });
    await ingest(t, [pair("a", "a", T0 - 5), pair("c", "c", T0 - 4), pair("c", "a", T0 - 3)], { [SESSION_HEADER]: token({ verb: Verb.INGEST, node: "n" }) });
    const none = await rawList(t.port, [requestFrame()]);
    expect(none.status).toBe(16);
    expect(none.message).toMatch(/missing session token/);
    expect((await rawList(t.port, [requestFrame()], { [SESSION_HEADER]: token({ verb: Verb.INGEST }) })).status).toBe(7);
    const scoped = { [SESSION_HEADER]: token({ verb: Verb.QUERY, namespaces: ["a"] }) };
    const r = await rawList(t.port, [requestFrame({ sortBy: [{ sortBy: SortBy.SourceName }] })], scoped);
    expect(r.status).toBe(0);
    expect(names(r)).toEqual(["a-a", "c-a"]);
    const outside = await rawList(t.port, [requestFrame({ filter: { sourceNamespaces: [{ value: "c", type: MatchType.Exact }], destNamespaces: [{ value: "c", type: MatchType.Exact }] } })], scoped);
    expect(outside.status).toBe(7);
  });
});
