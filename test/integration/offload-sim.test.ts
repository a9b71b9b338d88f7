/**
 * The device emulator over the wire: the OPI dialect (opi_api.security.firewall.v1) through a real
 * gRPC client on a loopback ephemeral port, plus Connect, gRPC-web, an independent grpc-js client,
 * TLS with a certificate made by `openssl`, and the metrics endpoint. Time is a manual clock: a
 * test moves it and the next RPC runs the traffic model up to it.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ActionType,
  AddSessionStatus,
  SessionCloseCode,
  SessionRequestSchema,
  SessionState,
  SessionTable,
  type SessionRequest,
} from "../../src/gen/opi_api/security/firewall/v1/openoffload_pb.js";
import { SessionTable as V1SessionTable } from "../../src/gen/openoffload/v1/openoffload_pb.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createOffloadSimServer, ipv4ToWire, ipv6ToBytes, manualClock, resolveSimConfig, type ManualClock, type OffloadSimServer, type SimConfigInput } from "../../src/offload/index.js";

const T0 = 1_700_000_000;
const QUIET = { finPerSec: 0, rstPerSec: 0, idlePerSec: 0 };

interface Sim {
  server: OffloadSimServer;
  clock: ManualClock;
  registry: Registry;
  port: number;
}
const running: Sim[] = [];

async function startSim(input: SimConfigInput = {}, tls?: { cert: Buffer; key: Buffer }): Promise<Sim> {
  const clock = manualClock(T0);
  const registry = new Registry();
  const config = resolveSimConfig({ seed: 11, ...input, traffic: { ...QUIET, ...input.traffic } });
  const server = createOffloadSimServer(config, { host: "127.0.0.1", port: 0, autoTick: false, tls }, { clock, registry, log: silentLogger() });
  const { rpc } = await server.listen();
  const sim = { server, clock, registry, port: rpc.port };
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.server.close(100)));
});

const grpcClient = (port: number) => createClient(SessionTable, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

async function* stream<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

function opiRequest(id: string, over: Partial<Omit<SessionRequest, "$typeName" | "sessionId" | "action">> = {}): SessionRequest {
  const r = create(SessionRequestSchema, {
    sessionId: { value: id },
    inlif: 1,
    outlif: 2,
    sourceip: ipv4ToWire("10.0.0.1"),
    sourceport: 10000 + (Number.parseInt(id.slice(-4), 16) % 50000 || 0),
    destinationip: ipv4ToWire("10.1.0.3"),
    destinationport: 80,
    protocolid: 6,
    action: { actiontype: ActionType._FORWARD },
  });
  return Object.assign(r, over);
}

async function expectCode(p: Promise<unknown>, code: Code): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    expect(Code[e.code]).toBe(Code[code]);
    return e;
  }
  return expect.fail(`expected ${Code[code]}`);
}

describe("OPI SessionTable over gRPC", () => {
  let sim: Sim;
  let client: Client<typeof SessionTable>;

  it("AddSession: accepted stream with starttime, then Get by the Uuid↔uint64 rule", async () => {
    sim = await startSim();
    client = grpcClient(sim.port);
    const uuid = "6f1c2a9e-5b3d-4e7f-0000-00000000beef";
    const res = await client.addSession(stream([opiRequest("1001"), opiRequest(uuid, { sourceport: 4242 })]));
    expect(res.requeststatus).toBe(AddSessionStatus._SESSION_ACCEPTED);
    expect(res.errorstatus).toBe(0n);
    expect(res.responseerror).toEqual([]);
    expect(timestampMs(res.starttime!)).toBe(T0 * 1000);

    const byDecimal = await client.getSession({ sessionId: 1001n });
    expect(byDecimal.sessionid?.value).toBe("1001");
    expect(byDecimal.sessionstate).toBe(SessionState._ESTABLISHED);
    expect(byDecimal.endtime).toBeUndefined();
    const byUuid = await client.getSession({ sessionId: 0xbeefn });
    expect(byUuid.sessionid?.value).toBe(uuid);

    sim.clock.advance(5);
    const later = await client.getSession({ sessionId: 1001n });
    expect(later.inpackets).toBeGreaterThanOrEqual(5n);
    expect(later.outbytes).toBeGreaterThan(0n);
  });

  it("AddSession: per-session errors echo the client's Uuid, bit i marks the i-th session", async () => {
    sim = await startSim();
    client = grpcClient(sim.port);
    await client.addSession(stream([opiRequest("1")]));
    const res = await client.addSession(
      stream([
        opiRequest("2", { sourceport: 2 }),
        opiRequest("1", { sourceport: 3 }), // duplicate id
        opiRequest("3", { protocolid: 0 }), // HOPOPT: invalid
        opiRequest("4", { ipversion: 1, sourceipv6: new Uint8Array(4), destinationipv6: ipv6ToBytes("::1") }), // short v6
        opiRequest("5", { sourceport: 2 }), // same tuple as "2" earlier in the stream
        opiRequest("", { sourceport: 6 }), // no id
      ]),
    );
    expect(res.requeststatus).toBe(AddSessionStatus._SESSION_REJECTED);
    expect(res.errorstatus).toBe(0b111110n);
    expect(res.responseerror.map((e) => [e.sessionid?.value, e.errorstatus])).toEqual([
      ["1", AddSessionStatus._SESSION_ALREADY_EXISTS],
      ["3", AddSessionStatus._SESSION_REJECTED],
      ["4", AddSessionStatus._SESSION_REJECTED],
      ["5", AddSessionStatus._SESSION_ALREADY_EXISTS],
      ["", AddSessionStatus._SESSION_REJECTED],
    ]);
    expect((await client.getAllSession({})).sessioninfo.map((s) => s.sessionid?.value)).toEqual(["1", "2"]);
  });

  it("AddSession: a full table rejects the whole stream; more than 64 sessions is INVALID_ARGUMENT", async () => {
    sim = await startSim({ capacity: 3 });
    client = grpcClient(sim.port);
    await client.addSession(stream([opiRequest("1")]));
    const full = await client.addSession(stream(["2", "3", "4"].map((id) => opiRequest(id, { sourceport: Number(id) }))));
    expect(full.requeststatus).toBe(AddSessionStatus._SESSION_TABLE_FULL);
    expect(full.errorstatus).toBe(0b111n);
    expect(full.responseerror.map((e) => [e.sessionid?.value, e.errorstatus])).toEqual([
      ["2", 2],
      ["3", 2],
      ["4", 2],
    ]);
    expect((await client.getAllSession({})).sessioninfo).toHaveLength(1);

    const sim2 = await startSim();
    const c2 = grpcClient(sim2.port);
    const tooMany = Array.from({ length: 65 }, (_, i) => opiRequest(String(i + 1), { sourceport: i + 1 }));
    const err = await expectCode(c2.addSession(stream(tooMany)), Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/at most 64/);
    expect((await c2.getAllSession({})).sessioninfo).toEqual([]);
    const ok = await c2.addSession(stream(tooMany.slice(0, 64)));
    expect(ok.requeststatus).toBe(AddSessionStatus._SESSION_ACCEPTED);
  });

  it("Get/Delete: NOT_FOUND for unknown ids, FAILED_PRECONDITION for ambiguous ones; Delete returns final counters", async () => {
    sim = await startSim();
    client = grpcClient(sim.port);
    await client.addSession(stream([opiRequest("00000000-0000-0000-0000-000000000010", { sourceport: 1 }), opiRequest("16", { sourceport: 2 }), opiRequest("7", { sourceport: 3 })]));
    await expectCode(client.getSession({ sessionId: 99n }), Code.NotFound);
    await expectCode(client.deleteSession({ sessionId: 99n }), Code.NotFound);
    const amb = await expectCode(client.getSession({ sessionId: 16n }), Code.FailedPrecondition);
    expect(amb.rawMessage).toMatch(/ambiguous/);
    sim.clock.advance(3);
    const current = await client.getSession({ sessionId: 7n });
    const deleted = await client.deleteSession({ sessionId: 7n });
    expect(deleted.sessionid?.value).toBe("7");
    expect(deleted.inpackets).toBe(current.inpackets);
    expect(deleted.sessionstate).toBe(SessionState._CLOSED);
    expect(timestampMs(deleted.endtime!)).toBe((T0 + 3) * 1000);
    await expectCode(client.getSession({ sessionId: 7n }), Code.NotFound);
  });

  it("GetAllSession: id filter, state filter, stable order, capped pages with nextkey (startkey extension)", async () => {
    sim = await startSim({ maxPageSize: 4, traffic: { rstPerSec: 0.3 } });
    client = grpcClient(sim.port);
    const ids = Array.from({ length: 10 }, (_, i) => String(100 + i));
    await client.addSession(stream(ids.map((id) => opiRequest(id, { sourceport: Number(id) }))));
    const first = await client.getAllSession({});
    expect(first.sessioninfo.map((s) => s.sessionid?.value)).toEqual(ids.slice(0, 4));
    expect(first.nextkey).toBe(5n);
    const all: string[] = [];
    let startkey = 0n;
    do {
      if (all.length > 10) expect.fail("paging never ended");
      const page = await client.getAllSession({ startkey });
      all.push(...page.sessioninfo.map((s) => s.sessionid!.value));
      startkey = page.nextkey;
    } while (startkey !== 0n);
    expect(all).toEqual(ids);
    expect((await client.getAllSession({ sessionid: { value: "105" } })).sessioninfo.map((s) => s.sessionid?.value)).toEqual(["105"]);
    expect((await client.getAllSession({ sessionid: { value: "00000000-0000-0000-0000-000000000000" } })).sessioninfo).toHaveLength(4);

    sim.clock.advance(3);
    const closed: string[] = [];
    startkey = 0n;
    do {
      if (closed.length > 10) expect.fail("paging never ended");
      const page = await client.getAllSession({ sessionstate: SessionState._CLOSED, startkey });
      for (const s of page.sessioninfo) {
        expect(s.sessionstate).toBe(SessionState._CLOSED);
        expect(s.sessionclosecode).toBe(SessionCloseCode._RST);
        expect(s.endtime).toBeDefined();
      }
      closed.push(...page.sessioninfo.map((s) => s.sessionid!.value));
      startkey = page.nextkey;
    } while (startkey !== 0n);
    expect(closed.length).toBeGreaterThan(0);
    expect(closed.length).toBeLessThan(10);
    expect(closed).toEqual([...closed].sort());
  });

  it("both dialects share one table on one port", async () => {
    sim = await startSim();
    client = grpcClient(sim.port);
    const v1 = createClient(V1SessionTable, createGrpcTransport({ baseUrl: `http://127.0.0.1:${sim.port}` }));
    await client.addSession(stream([opiRequest("00000000-0000-0000-0000-0000000004d2", { sourceport: 1 })]));
    await v1.addSession(stream([{ sessionId: 77n, sourceIp: ipv4ToWire("10.0.0.9"), sourcePort: 9, destinationIp: ipv4ToWire("10.0.0.8"), destinationPort: 443, protocolId: 6 }]));
    expect((await v1.getSession({ sessionId: 1234n })).sessionId).toBe(1234n);
    expect((await client.getSession({ sessionId: 77n })).sessionid?.value).toBe("77");
    expect((await client.getAllSession({})).sessioninfo.map((s) => s.sessionid?.value)).toEqual(["00000000-0000-0000-0000-0000000004d2", "77"]);
  });
});

describe("other protocols and clients on the same port", () => {
  it("Connect (JSON over HTTP/1.1, client streaming over HTTP/2) and gRPC-web", async () => {
    const sim = await startSim();
    const base = `http://127.0.0.1:${sim.port}`;
    const connect2 = createClient(SessionTable, createConnectTransport({ baseUrl: base, httpVersion: "2" }));
    const added = await connect2.addSession(stream([opiRequest("501", { sourceport: 1 }), opiRequest("502", { sourceport: 2 })]));
    expect(added.requeststatus).toBe(AddSessionStatus._SESSION_ACCEPTED);
    const connectJson = createClient(SessionTable, createConnectTransport({ baseUrl: base, httpVersion: "1.1", useBinaryFormat: false }));
    expect((await connectJson.getSession({ sessionId: 501n })).sessionid?.value).toBe("501");
    const web = createClient(SessionTable, createGrpcWebTransport({ baseUrl: base, httpVersion: "1.1" }));
    expect((await web.getAllSession({})).sessioninfo.map((s) => s.sessionid?.value)).toEqual(["501", "502"]);
    await expectCode(web.getSession({ sessionId: 9n }), Code.NotFound);
  });

  it("an independent grpc-js client reaches the lowerCamel openoffload.v1 paths", async () => {
    const sim = await startSim();
    const def = protoLoader.loadSync("openoffload/v1/openoffload.proto", { includeDirs: [join(import.meta.dirname, "../../proto")], keepCase: true, longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { openoffload: { v1: { SessionTable: grpc.ServiceClientConstructor } } };
    const client = new pkg.openoffload.v1.SessionTable(`127.0.0.1:${sim.port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
    try {
      const added = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const call = client.addSession!((err: Error | null, res: Record<string, unknown>) => (err ? reject(err) : resolve(res))) as grpc.ClientWritableStream<unknown>;
        call.write({ sessionId: "42", sourceIp: ipv4ToWire("10.0.0.1"), sourcePort: 1, destinationIp: ipv4ToWire("10.0.0.2"), destinationPort: 80, protocolId: "_TCP" });
        call.end();
      });
      expect(added.requestStatus).toBe("_SESSION_ACCEPTED");
      const got = await new Promise<Record<string, unknown>>((resolve, reject) =>
        client.getSession!({ sessionId: "42" }, (err: Error | null, res: Record<string, unknown>) => (err ? reject(err) : resolve(res))),
      );
      expect(got.sessionId).toBe("42");
      expect(got.sessionState).toBe("_ESTABLISHED");
      const missing = await new Promise<grpc.ServiceError>((resolve) => client.getSession!({ sessionId: "43" }, (err: grpc.ServiceError) => resolve(err)));
      expect(missing.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it("serves /metrics and /healthz on the RPC port", async () => {
    const sim = await startSim({ capacity: 2 });
    const client = grpcClient(sim.port);
    await client.addSession(stream([opiRequest("1"), opiRequest("2", { sourceport: 2 }), opiRequest("3", { sourceport: 3 })]));
    await client.addSession(stream([opiRequest("1")]));
    const text = await (await fetch(`http://127.0.0.1:${sim.port}/metrics`)).text();
    expect(text).toMatch(/tributary_offload_sim_sessions\{state="established"\} 1\n/);
    expect(text).toMatch(/tributary_offload_sim_rejected_sessions_total\{reason="table_full"\} 3\n/);
    expect(text).toMatch(/tributary_offload_sim_added_sessions_total\{dialect="opi"\} 1\n/);
    expect(text).toMatch(/tributary_offload_sim_capacity_sessions 2/);
    expect(await (await fetch(`http://127.0.0.1:${sim.port}/healthz`)).text()).toBe("ok\n");
    expect((await fetch(`http://127.0.0.1:${sim.port}/nope`)).status).toBe(404);
  });
});

describe("TLS", () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "offload-sim-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    cert = readFileSync(join(dir, "cert.pem"));
    key = readFileSync(join(dir, "key.pem"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves gRPC over TLS (ALPN h2) to a client that trusts the certificate, and refuses one that does not", async () => {
    const sim = await startSim({}, { cert, key });
    const trusted = createClient(SessionTable, createGrpcTransport({ baseUrl: `https://127.0.0.1:${sim.port}`, nodeOptions: { ca: cert } }));
    const res = await trusted.addSession(stream([opiRequest("9")]));
    expect(res.requeststatus).toBe(AddSessionStatus._SESSION_ACCEPTED);
    expect((await trusted.getSession({ sessionId: 9n })).sessionid?.value).toBe("9");
    const web = createClient(SessionTable, createGrpcWebTransport({ baseUrl: `https://127.0.0.1:${sim.port}`, httpVersion: "1.1", nodeOptions: { ca: cert } }));
    expect((await web.getAllSession({})).sessioninfo).toHaveLength(1);
    const untrusted = createClient(SessionTable, createGrpcTransport({ baseUrl: `https://127.0.0.1:${sim.port}` }));
    await expect(untrusted.getSession({ sessionId: 9n })).rejects.toThrow(/certificate/i);
  });
});
