import { toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Flows, FlowUpdateSchema } from "../../src/gen/goldmane/api_pb.js";
import { grpcFrame, rawConnect } from "../helpers/raw-grpc.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

const T0 = 1_700_000_010;
const old = T0 - 60;
const frame = (i: number, compressed = false) => grpcFrame(toBinary(FlowUpdateSchema, wireUpdate(old, { destPort: BigInt(i) })), compressed);

// The same gRPC rules must hold on both ingest paths (DESIGN §5): the fast lane and Connect.
describe.each([
  ["fast lane", "true"],
  ["Connect", "false"],
])("gRPC ingest conformance: %s", (_name, fastLane) => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await startTestServer({ INGEST_FAST_LANE: fastLane, MAX_MESSAGE_BYTES: "4096" }, T0);
  });
  afterEach(async () => {
    await ts.close();
  });
  const total = async () => (await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({})).meta?.totalResults;

  it("receipts every update and ends with status 0 and trailers when the client ends", async () => {
    const frames = Array.from({ length: 300 }, (_, i) => frame(i));
    // Frames split at arbitrary byte boundaries must reassemble.
    const all = Buffer.concat(frames);
    const chunks = [all.subarray(0, 3), all.subarray(3, 1000), all.subarray(1000, 1001), all.subarray(1001)];
    const r = await rawConnect(ts.port, chunks);
    expect(r.status).toBe(0);
    expect(r.messages).toBe(300);
    expect(await total()).toBe(300n);
  });

  it("accepts gzip-compressed messages announced by grpc-encoding", async () => {
    const r = await rawConnect(ts.port, [frame(1, true), frame(2)], { "grpc-encoding": "gzip" });
    expect(r.status).toBe(0);
    expect(r.messages).toBe(2);
    expect(await total()).toBe(2n);
  });

  it("refuses a compressed message without grpc-encoding (INTERNAL)", async () => {
    const r = await rawConnect(ts.port, [frame(1), frame(2, true)]);
    expect(r.status).toBe(13);
    expect(r.messages).toBe(1);
  });

  it("refuses a message over MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED and keeps what came before", async () => {
    const big = grpcFrame(toBinary(FlowUpdateSchema, wireUpdate(old, { sourceName: "x".repeat(5000) })));
    const r = await rawConnect(ts.port, [frame(1), big]);
    expect(r.status).toBe(8);
    // The fast lane stores and receipts the first update before failing the call; Connect reads
    // ahead and may fail before handling it. On both paths, what was receipted is what is stored.
    if (fastLane === "true") expect(r.messages).toBe(1);
    expect(await total()).toBe(BigInt(r.messages));
  });

  it("ends the call on an undecodable message without storing it", async () => {
    const r = await rawConnect(ts.port, [frame(1), grpcFrame(new Uint8Array([0x0a, 0x7f, 0x01]))]);
    expect(r.status).not.toBe(0);
    expect([3, 13]).toContain(r.status);
    expect(await total()).toBe(1n);
  });

  it("frees the client slot when the client cancels", async () => {
    await rawConnect(ts.port, [frame(1)], {}, { abortAfterMs: 50 });
    await new Promise((r) => setTimeout(r, 50));
    expect(await metricValue(ts.registry, "goldmane_collector_num_clients")).toBe(0);
    expect(await total()).toBe(1n);
  });

  it("ends every stream still open at shutdown with UNAVAILABLE, after the ones that ended before", async () => {
    // Calls that ended before shutdown leave the set of open calls (the one shutdown listener).
    for (let i = 0; i < 3; i++) expect((await rawConnect(ts.port, [frame(1)])).status).toBe(0);
    const pending = Array.from({ length: 20 }, () => rawConnect(ts.port, [frame(1)], {}, { endStream: false }));
    await new Promise((r) => setTimeout(r, 200));
    expect(await metricValue(ts.registry, "goldmane_collector_num_clients")).toBe(20);
    await ts.server.close();
    for (const r of await Promise.all(pending)) {
      expect(r.status).toBe(14);
      expect(r.messages).toBe(1);
    }
  });
});
