import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FilterType, FlowCollector, Flows, FlowUpdateSchema, MatchType, Statistics, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { CreateRequest_BodySchema, SessionService, SignatureScheme, Verb } from "../../src/gen/tributary/session/v1/session_pb.js";
import {
  compressPublicKey,
  encodeToken,
  generateP256Key,
  issueToken,
  PROOF_HEADER,
  PROOF_TIME_HEADER,
  proofHeaders,
  SESSION_HEADER,
  signWith,
  uuidString,
  type TokenClaims,
} from "../../src/auth/index.js";
import { grpcFrame, rawConnect } from "../helpers/raw-grpc.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";

const T0 = 1_700_000_010;
const W = 15;
const OLD = T0 - 4 * W;
const LIST = "/goldmane.Flows/List";

let dir: string;
let keyA: KeyObject;
let keyB: KeyObject;
let stranger: KeyObject;
let ts: TestServer | undefined;

const writeKey = (file: string, k: KeyObject) => fs.writeFileSync(path.join(dir, file), k.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-auth-"));
  fs.mkdirSync(path.join(dir, "keys"));
  keyA = generateP256Key();
  keyB = generateP256Key();
  stranger = generateP256Key();
  writeKey("keys/2025-01.pem", keyA);
  fs.writeFileSync(
    path.join(dir, "bootstrap.json"),
    JSON.stringify([
      { name: "dev-agent", secret: "dev-agent-secret-0123456789", verbs: ["ingest"], node: "node-7" },
      { name: "team-a-ui", secret: "team-a-ui-secret-0123456789", verbs: ["query"], namespaces: ["a", "b"] },
      { name: "anything", secret: "anything-secret-0123456789", verbs: ["ingest", "query", "offload"] },
      { serviceAccount: "calico-system/calico-node", verbs: ["ingest"] },
      { serviceAccount: "tributary/ui", verbs: ["query"], namespaces: ["a"] },
    ]),
  );
  fs.writeFileSync(path.join(dir, "revoked.txt"), "# none yet\n");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await ts?.close();
  ts = undefined;
});

/** A base64 token signed by `key` at the server's clock. */
function token(claims: Partial<TokenClaims> & { verb: Verb }, key: KeyObject = keyA, nowSec = T0): string {
  return Buffer.from(encodeToken(issueToken(key, { owner: "test", ttlSec: 600, ...claims }, nowSec))).toString("base64");
}

function authEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUTH_MODE: "token",
    AUTH_ISSUER_KEY_PATH: path.join(dir, "keys"),
    AUTH_BOOTSTRAP_PATH: path.join(dir, "bootstrap.json"),
    AUTH_REVOKED_PATH: path.join(dir, "revoked.txt"),
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

const flows = (t: TestServer) => createClient(Flows, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));
const hdr = (tok: string, extra: Record<string, string> = {}) => ({ headers: { [SESSION_HEADER]: tok, ...extra } });

/** Connect-protocol ingest (not the fast lane): gRPC-web over HTTP/1.1 cannot stream, Connect over h2 can. */
async function ingestConnect(t: TestServer, updates: FlowUpdate[], headers: Record<string, string>): Promise<number> {
  const client = createClient(FlowCollector, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" }));
  async function* gen() {
    yield* updates;
  }
  let n = 0;
  for await (const _ of client.connect(gen(), { headers })) n++;
  return n;
}

/** gRPC ingest, which the fast lane serves. */
function ingestFast(t: TestServer, updates: FlowUpdate[], headers: Record<string, string>) {
  return rawConnect(t.port, updates.map((u) => grpcFrame(toBinary(FlowUpdateSchema, u))), headers);
}

describe("token verification, in order (AUTH_MODE=token)", () => {
  it("refuses missing, malformed, badly signed, unknown-key, expired, not-yet-valid and revoked tokens with UNAUTHENTICATED naming which", async () => {
    ts = await startTestServer(authEnv(), T0);
    const c = flows(ts);
    const cases: [string, Record<string, string> | undefined, RegExp][] = [
      ["missing", undefined, /missing session token/],
      ["not base64", { [SESSION_HEADER]: "%%%" }, /malformed session token: .* not base64/],
      ["not a token", { [SESSION_HEADER]: Buffer.from("hello world, not protobuf").toString("base64") }, /malformed session token/],
      ["unknown issuer key", { [SESSION_HEADER]: token({ verb: Verb.QUERY }, stranger) }, /unknown issuer key/],
      ["expired", { [SESSION_HEADER]: token({ verb: Verb.QUERY, ttlSec: 60 }, keyA, T0 - 1000) }, /expired/],
      ["not yet valid", { [SESSION_HEADER]: token({ verb: Verb.QUERY }, keyA, T0 + 300) }, /not valid before/],
    ];
    // A token whose body was altered after signing (the owner renamed): the signature fails.
    const good = Buffer.from(token({ verb: Verb.QUERY, owner: "alice" }), "base64");
    const i = good.indexOf(Buffer.from("alice"));
    good.write("mallo", i);
    cases.push(["bad signature", { [SESSION_HEADER]: good.toString("base64") }, /signature does not verify/]);
    for (const [name, headers, msg] of cases) {
      const e = await failure(c.list({}, { headers }));
      expect(e.code, name).toBe(Code.Unauthenticated);
      expect(e.rawMessage, name).toMatch(msg);
    }
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "missing", verb: "query" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "bad_signature", verb: "query" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "unknown_key" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "expired" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "not_yet_valid" })).toBe(1);
  });

  it("accepts lifetimes within AUTH_CLOCK_SKEW at both ends, and not beyond", async () => {
    ts = await startTestServer(authEnv({ AUTH_CLOCK_SKEW: "20s" }), T0);
    const c = flows(ts);
    // Issued 15 s in the future (a fast issuer clock): within the skew.
    await expect(c.list({}, hdr(token({ verb: Verb.QUERY }, keyA, T0 + 15)))).resolves.toBeDefined();
    expect((await failure(c.list({}, hdr(token({ verb: Verb.QUERY }, keyA, T0 + 25))))).rawMessage).toMatch(/not valid before/);
    // exp = T0 − 15: expired 15 s ago, within the skew; exp = T0 − 21 is not.
    await expect(c.list({}, hdr(token({ verb: Verb.QUERY, ttlSec: 100 }, keyA, T0 - 115)))).resolves.toBeDefined();
    const late = await failure(c.list({}, hdr(token({ verb: Verb.QUERY, ttlSec: 100 }, keyA, T0 - 121))));
    expect([late.code, late.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/expired/)]);
  });

  it("refuses a revoked token (AUTH_REVOKED_PATH, re-read) with UNAUTHENTICATED \"revoked\"", async () => {
    ts = await startTestServer(authEnv({ AUTH_RELOAD_INTERVAL: "50ms" }), T0);
    const t = issueToken(keyA, { verb: Verb.QUERY, owner: "x", ttlSec: 600 }, T0);
    const tok = Buffer.from(encodeToken(t)).toString("base64");
    const c = flows(ts);
    await expect(c.list({}, hdr(tok))).resolves.toBeDefined();
    fs.writeFileSync(path.join(dir, "revoked.txt"), `# leaked in a log\n${uuidString(t.body!.id)}\n`);
    const e = await eventually(() => c.list({}, hdr(tok)).then(() => undefined, (x: unknown) => ConnectError.from(x)));
    expect([e.code, e.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/revoked/)]);
    expect(await metricValue(ts.registry, "tributary_auth_revoked_tokens")).toBe(1);
    fs.writeFileSync(path.join(dir, "revoked.txt"), "");
  });

  it("answers PERMISSION_DENIED for a valid token with the wrong verb, on every method", async () => {
    ts = await startTestServer(authEnv(), T0);
    const ingestTok = token({ verb: Verb.INGEST, node: "n1" });
    const e = await failure(flows(ts).list({}, hdr(ingestTok)));
    expect([e.code, e.rawMessage]).toEqual([Code.PermissionDenied, "token verb INGEST does not allow /goldmane.Flows/List"]);
    const queryTok = token({ verb: Verb.QUERY });
    const fast = await ingestFast(ts, [wireUpdate(OLD)], { [SESSION_HEADER]: queryTok });
    expect([fast.status, fast.message]).toEqual([Code.PermissionDenied, "token verb QUERY does not allow /goldmane.FlowCollector/Connect"]);
    const slow = await failure(ingestConnect(ts, [wireUpdate(OLD)], { [SESSION_HEADER]: queryTok }));
    expect(slow.code).toBe(Code.PermissionDenied);
    const stats = createClient(Statistics, createGrpcTransport({ baseUrl: ts.baseUrl }));
    const s = await failure((async () => {
      for await (const _ of stats.list({}, hdr(ingestTok)));
    })());
    expect(s.code).toBe(Code.PermissionDenied);
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "wrong_verb" })).toBe(4);
  });

  it("leaves SessionService.Create open: it authenticates the caller by its own means", async () => {
    ts = await startTestServer(authEnv(), T0);
    const e = await failure(createClient(SessionService, createConnectTransport({ baseUrl: ts.baseUrl, httpVersion: "1.1" })).create({ body: { verb: Verb.QUERY } }));
    expect(e.code).toBe(Code.Unauthenticated);
    expect(e.rawMessage).toMatch(/no credentials/);
  });
});

describe("ingest identity", () => {
  it("records the token's node as the reporting node, on the fast lane and the Connect path", async () => {
    ts = await startTestServer(authEnv(), T0);
    const fast = await ingestFast(ts, [wireUpdate(OLD, { sourceName: "f1" })], { [SESSION_HEADER]: token({ verb: Verb.INGEST, node: "node-fast" }) });
    expect([fast.status, fast.messages]).toEqual([0, 1]);
    const n = await ingestConnect(ts, [wireUpdate(OLD, { sourceName: "c1" })], { [SESSION_HEADER]: token({ verb: Verb.OFFLOAD, node: "bridge-1" }) });
    expect(n).toBe(1);
    expect(await metricValue(ts.registry, "goldmane_collector_received_flows", { source: "node-fast" })).toBe(1);
    expect(await metricValue(ts.registry, "goldmane_collector_received_flows", { source: "bridge-1" })).toBe(1);
    const missing = await ingestFast(ts, [wireUpdate(OLD)], {});
    expect([missing.status, missing.message]).toEqual([Code.Unauthenticated, "missing session token (tributary-session-bin)"]);
    const bad = await ingestFast(ts, [wireUpdate(OLD)], { [SESSION_HEADER]: token({ verb: Verb.INGEST }, stranger) });
    expect(bad.status).toBe(Code.Unauthenticated);
  });

  it("feeds dedup: one flow replayed under one node counts once, under two nodes twice", async () => {
    ts = await startTestServer(authEnv(), T0);
    const u = wireUpdate(OLD, { sourceName: "dup" });
    const t1 = token({ verb: Verb.INGEST, node: "node-1" });
    await ingestFast(ts, [u], { [SESSION_HEADER]: t1 });
    await ingestFast(ts, [u], { [SESSION_HEADER]: t1 });
    const c = flows(ts);
    const q = token({ verb: Verb.QUERY });
    const once = await c.list({}, hdr(q));
    expect(once.flows.map((f) => Number(f.flow!.packetsIn))).toEqual([1]);
    await ingestFast(ts, [u], { [SESSION_HEADER]: token({ verb: Verb.INGEST, node: "node-2" }) });
    const twice = await c.list({}, hdr(q));
    expect(twice.flows.map((f) => Number(f.flow!.packetsIn))).toEqual([2]);
  });
});

describe("namespace scope of QUERY tokens", () => {
  // Flows between namespaces: a→a, a→c, c→b, c→c, d→d.
  const pairs: [string, string][] = [["a", "a"], ["a", "c"], ["c", "b"], ["c", "c"], ["d", "d"]];
  const scoped = () => token({ verb: Verb.QUERY, namespaces: ["a", "b"] });

  let scopeTs: TestServer | undefined;
  beforeAll(async () => {
    scopeTs = await startTestServer(authEnv(), T0);
    const res = await ingestFast(
      scopeTs,
      pairs.map(([s, d]) =>
        wireUpdate(OLD, { sourceName: `${s}-${d}`, sourceNamespace: s, destNamespace: d, policies: { enforcedPolicies: [{ kind: 1, namespace: d, name: `np-${d}`, tier: "default", action: 1, policyIndex: 0n, ruleIndex: 0n }] } }),
      ),
      { [SESSION_HEADER]: token({ verb: Verb.INGEST, node: "n" }) },
    );
    expect(res.status).toBe(0);
  });
  afterAll(async () => {
    await scopeTs?.close();
  });

  it("List: only flows with source or destination namespace in scope", async () => {
    const t = scopeTs!;
    const all = await flows(t).list({}, hdr(token({ verb: Verb.QUERY })));
    expect(all.flows.length).toBe(5);
    const mine = await flows(t).list({}, hdr(scoped()));
    expect(mine.flows.map((f) => f.flow!.Key!.sourceName).sort()).toEqual(["a-a", "a-c", "c-b"]);
    expect(mine.meta?.totalResults).toBe(3n);
    // The request filter narrows further (AND).
    const narrowed = await flows(t).list({ filter: { sourceNamespaces: [{ value: "c", type: MatchType.Exact }] } }, hdr(scoped()));
    expect(narrowed.flows.map((f) => f.flow!.Key!.sourceName)).toEqual(["c-b"]);
  });

  it("List, Stream and FilterHints: a filter that can only match out-of-scope namespaces is PERMISSION_DENIED", async () => {
    const t = scopeTs!;
    const filter = { sourceNamespaces: [{ value: "c", type: MatchType.Exact }], destNamespaces: [{ value: "d", type: MatchType.Exact }] };
    for (const p of [
      flows(t).list({ filter }, hdr(scoped())),
      flows(t).filterHints({ type: FilterType.FilterTypeSourceName, filter }, hdr(scoped())),
      (async () => {
        for await (const _ of flows(t).stream({ filter, startTimeGte: BigInt(OLD - 1) }, hdr(scoped())));
      })(),
    ]) {
      const e = await failure(p);
      expect([e.code, e.rawMessage]).toEqual([Code.PermissionDenied, "namespaces out of the token's scope (a, b)"]);
    }
  });

  it("Stream: backfill only in scope", async () => {
    const t = scopeTs!;
    const ac = new AbortController();
    const client = createClient(Flows, createGrpcTransport({ baseUrl: t.baseUrl }));
    const seen: string[] = [];
    const it = client.stream({ startTimeGte: BigInt(OLD - 1) }, { ...hdr(scoped()), signal: ac.signal })[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) seen.push((await it.next()).value!.flow!.Key!.sourceName);
    ac.abort();
    await it.return?.();
    expect(seen.sort()).toEqual(["a-a", "a-c", "c-b"]);
    // A fourth result would be out of scope: check with an unscoped stream that it exists.
    const ac2 = new AbortController();
    const all = client.stream({ startTimeGte: BigInt(OLD - 1) }, { ...hdr(token({ verb: Verb.QUERY })), signal: ac2.signal })[Symbol.asyncIterator]();
    const names: string[] = [];
    for (let i = 0; i < 5; i++) names.push((await all.next()).value!.flow!.Key!.sourceName);
    ac2.abort();
    await all.return?.();
    expect(names.sort()).toEqual(["a-a", "a-c", "c-b", "c-c", "d-d"]);
  });

  it("FilterHints: values from in-scope flows only", async () => {
    const t = scopeTs!;
    const c = createClient(Flows, createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));
    const ns = await c.filterHints({ type: FilterType.FilterTypeSourceNamespace }, hdr(scoped()));
    expect(ns.hints.map((h) => h.value)).toEqual(["a", "c"]);
    const all = await c.filterHints({ type: FilterType.FilterTypeSourceNamespace }, hdr(token({ verb: Verb.QUERY })));
    expect(all.hints.map((h) => h.value)).toEqual(["a", "c", "d"]);
  });

  it("Statistics: computed over in-scope keys only", async () => {
    const t = scopeTs!;
    const c = createClient(Statistics, createGrpcTransport({ baseUrl: t.baseUrl }));
    const names = async (tok: string) => {
      const out: string[] = [];
      for await (const r of c.list({ startTimeGte: BigInt(OLD - W), startTimeLt: BigInt(T0) }, hdr(tok))) out.push(`${r.policy!.name}:${r.allowedIn.reduce((x, y) => x + y, 0n)}`);
      return out.sort();
    };
    expect(await names(token({ verb: Verb.QUERY }))).toEqual(["np-a:1", "np-b:1", "np-c:2", "np-d:1"]);
    expect(await names(scoped())).toEqual(["np-a:1", "np-b:1", "np-c:1"]);
  });
});

describe("proof of possession and bearer policy", () => {
  it("requires a fresh proof by the session key once per call or stream, bound to the method", async () => {
    ts = await startTestServer(authEnv(), T0);
    const sk = generateP256Key();
    const t = issueToken(keyA, { verb: Verb.QUERY, owner: "agent", ttlSec: 600, sessionKey: compressPublicKey(sk) }, T0);
    const tok = Buffer.from(encodeToken(t)).toString("base64");
    const id = uuidString(t.body!.id);
    const c = flows(ts);
    const noProof = await failure(c.list({}, hdr(tok)));
    expect([noProof.code, noProof.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/proof of possession missing/)]);
    const proof = proofHeaders(id, sk, LIST, T0);
    await expect(c.list({}, hdr(tok, proof))).resolves.toBeDefined();
    // The same proof again: a replay.
    expect((await failure(c.list({}, hdr(tok, proof)))).rawMessage).toMatch(/replayed/);
    // A proof for List does not open FilterHints.
    expect((await failure(c.filterHints({}, hdr(tok, proofHeaders(id, sk, LIST, T0))))).rawMessage).toMatch(/does not verify/);
    // Older than the skew.
    expect((await failure(c.list({}, hdr(tok, proofHeaders(id, sk, LIST, T0 - 31))))).rawMessage).toMatch(/outside the allowed clock skew/);
    // Signed by another key.
    expect((await failure(c.list({}, hdr(tok, proofHeaders(id, generateP256Key(), LIST, T0))))).rawMessage).toMatch(/does not verify/);
    // The fast lane checks the proof from the raw HTTP/2 headers.
    const it = issueToken(keyA, { verb: Verb.INGEST, owner: "agent", node: "pop-node", ttlSec: 600, sessionKey: compressPublicKey(sk) }, T0);
    const itok = Buffer.from(encodeToken(it)).toString("base64");
    const ok = await ingestFast(ts, [wireUpdate(OLD)], { [SESSION_HEADER]: itok, ...proofHeaders(uuidString(it.body!.id), sk, "/goldmane.FlowCollector/Connect", T0) });
    expect([ok.status, ok.messages]).toEqual([0, 1]);
    const bad = await ingestFast(ts, [wireUpdate(OLD)], { [SESSION_HEADER]: itok, [PROOF_TIME_HEADER]: String(T0), [PROOF_HEADER]: Buffer.alloc(64).toString("base64") });
    expect(bad.status).toBe(Code.Unauthenticated);
    expect(await metricValue(ts.registry, "goldmane_collector_received_flows", { source: "pop-node" })).toBe(1);
    expect(await metricValue(ts.registry, "tributary_auth_total", { outcome: "bad_proof" })).toBe(6);
  });

  it("refuses bearer tokens with AUTH_ALLOW_BEARER=false, and accepts proven ones", async () => {
    ts = await startTestServer(authEnv({ AUTH_ALLOW_BEARER: "false" }), T0);
    const e = await failure(flows(ts).list({}, hdr(token({ verb: Verb.QUERY }))));
    expect([e.code, e.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/bearer tokens .* not accepted/)]);
    const sk = generateP256Key();
    const t = issueToken(keyA, { verb: Verb.QUERY, owner: "agent", ttlSec: 600, sessionKey: compressPublicKey(sk) }, T0);
    await expect(flows(ts).list({}, hdr(Buffer.from(encodeToken(t)).toString("base64"), proofHeaders(uuidString(t.body!.id), sk, LIST, T0)))).resolves.toBeDefined();
  });
});

describe("SessionService.Create", () => {
  const sessions = (t: TestServer) => createClient(SessionService, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));
  const bearer = (s: string) => ({ headers: { authorization: `Bearer ${s}` } });

  it("issues tokens from the bootstrap file, within the grant, capped by AUTH_MAX_TTL", async () => {
    ts = await startTestServer(authEnv({ AUTH_MAX_TTL: "5m" }), T0);
    const s = sessions(ts);
    const r = await s.create({ body: { verb: Verb.INGEST, expiration: BigInt(T0 + 86400) } }, bearer("dev-agent-secret-0123456789"));
    const tok = r.body!.token!;
    expect(tok.body!.context.case).toBe("tributary");
    expect(tok.body!.context.value).toMatchObject({ verb: Verb.INGEST, nodeName: "node-7" });
    expect(Number(tok.body!.lifetime!.exp)).toBe(T0 + 300);
    expect(new TextDecoder().decode(tok.body!.ownerId!.value)).toBe("dev-agent");
    expect(Buffer.from(tok.signature!.key)).toEqual(Buffer.from(compressPublicKey(keyA)));
    const fast = await ingestFast(ts, [wireUpdate(OLD)], { [SESSION_HEADER]: Buffer.from(encodeToken(tok)).toString("base64") });
    expect(fast.status).toBe(0);
    expect(await metricValue(ts.registry, "goldmane_collector_received_flows", { source: "node-7" })).toBe(1);

    const denied = [
      s.create({ body: { verb: Verb.QUERY } }, bearer("dev-agent-secret-0123456789")),
      s.create({ body: { verb: Verb.INGEST, nodeName: "node-8" } }, bearer("dev-agent-secret-0123456789")),
      s.create({ body: { verb: Verb.QUERY, namespaces: ["a", "z"] } }, bearer("team-a-ui-secret-0123456789")),
    ];
    for (const p of denied) expect((await failure(p)).code).toBe(Code.PermissionDenied);
    const scoped = await s.create({ body: { verb: Verb.QUERY } }, bearer("team-a-ui-secret-0123456789"));
    expect(scoped.body!.token!.body!.context.value).toMatchObject({ namespaces: ["a", "b"] });
    expect((await failure(s.create({ body: { verb: Verb.QUERY } }, bearer("wrong-secret-0123456789")))).code).toBe(Code.Unauthenticated);
    expect(await metricValue(ts.registry, "tributary_auth_sessions_created_total", { outcome: "ok", method: "bootstrap" })).toBe(2);
    expect(await metricValue(ts.registry, "tributary_auth_sessions_created_total", { outcome: "denied" })).toBe(3);
  });

  it("binds the token to a session key after a proof of possession of it", async () => {
    ts = await startTestServer(authEnv({ AUTH_ALLOW_BEARER: "false" }), T0);
    const s = sessions(ts);
    const sk = generateP256Key();
    const body = create(CreateRequest_BodySchema, { verb: Verb.QUERY, sessionKey: compressPublicKey(sk) });
    const sig = { key: compressPublicKey(sk), sign: signWith(sk, toBinary(CreateRequest_BodySchema, body), SignatureScheme.ECDSA_SHA512), scheme: SignatureScheme.ECDSA_SHA512 };
    const r = await s.create({ body, verifyHeader: { bodySignature: sig } }, bearer("anything-secret-0123456789"));
    const t = r.body!.token!;
    expect(Buffer.from(t.body!.sessionKey)).toEqual(Buffer.from(compressPublicKey(sk)));
    const tok = Buffer.from(encodeToken(t)).toString("base64");
    await expect(flows(ts).list({}, hdr(tok, proofHeaders(uuidString(t.body!.id), sk, LIST, T0)))).resolves.toBeDefined();
    // Without the body signature, or signed by another key: no token.
    expect((await failure(s.create({ body }, bearer("anything-secret-0123456789")))).code).toBe(Code.Unauthenticated);
    const other = generateP256Key();
    const forged = { key: compressPublicKey(sk), sign: signWith(other, toBinary(CreateRequest_BodySchema, body)), scheme: SignatureScheme.ECDSA_SHA512 };
    expect((await failure(s.create({ body, verifyHeader: { bodySignature: forged } }, bearer("anything-secret-0123456789")))).code).toBe(Code.Unauthenticated);
    // Bearer tokens are not issued when they would not be accepted.
    expect((await failure(s.create({ body: { verb: Verb.QUERY } }, bearer("anything-secret-0123456789")))).code).toBe(Code.FailedPrecondition);
  });

  it("rotates keys: the newest key signs, tokens of the older key stay valid until it is removed", async () => {
    const keys = path.join(dir, "rotating");
    fs.mkdirSync(keys);
    fs.writeFileSync(path.join(keys, "2025-01.pem"), keyA.export({ type: "pkcs8", format: "pem" }));
    ts = await startTestServer(authEnv({ AUTH_ISSUER_KEY_PATH: keys, AUTH_RELOAD_INTERVAL: "50ms" }), T0);
    const old = token({ verb: Verb.QUERY }, keyA);
    fs.writeFileSync(path.join(keys, "2025-02.pem"), keyB.export({ type: "pkcs8", format: "pem" }));
    // Same mtime for both (as in a Secret volume): the name decides.
    const t = new Date();
    fs.utimesSync(path.join(keys, "2025-01.pem"), t, t);
    fs.utimesSync(path.join(keys, "2025-02.pem"), t, t);
    const r = await eventually(async () => {
      const x = await sessions(ts!).create({ body: { verb: Verb.QUERY } }, bearer("anything-secret-0123456789"));
      return Buffer.from(x.body!.token!.signature!.key).equals(Buffer.from(compressPublicKey(keyB))) ? x : undefined;
    });
    expect(Buffer.from(r.body!.token!.signature!.key)).toEqual(Buffer.from(compressPublicKey(keyB)));
    await expect(flows(ts).list({}, hdr(old))).resolves.toBeDefined();
    await expect(flows(ts).list({}, hdr(Buffer.from(encodeToken(r.body!.token!)).toString("base64")))).resolves.toBeDefined();
    fs.rmSync(path.join(keys, "2025-01.pem"));
    const gone = await eventually(() => flows(ts!).list({}, hdr(old)).then(() => undefined, (x: unknown) => ConnectError.from(x)));
    expect(gone.rawMessage).toMatch(/unknown issuer key/);
    expect(await metricValue(ts.registry, "tributary_auth_issuer_keys")).toBe(1);
  });

  it("authenticates ServiceAccount tokens with TokenReview (fake API server) and binds INGEST to the node claim", async () => {
    const reviews: unknown[] = [];
    const api = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c));
      req.on("end", () => {
        if (req.method !== "POST" || req.url?.split("?")[0] !== "/apis/authentication.k8s.io/v1/tokenreviews") {
          res.writeHead(404).end();
          return;
        }
        const review = JSON.parse(body) as { spec: { token: string; audiences?: string[] } };
        reviews.push(review);
        const users: Record<string, object> = {
          "sa-node": { username: "system:serviceaccount:calico-system:calico-node", extra: { "authentication.kubernetes.io/node-name": ["worker-3"] } },
          "sa-nonode": { username: "system:serviceaccount:calico-system:calico-node" },
          "sa-ui": { username: "system:serviceaccount:tributary:ui" },
          "sa-other": { username: "system:serviceaccount:default:default" },
        };
        const user = users[review.spec.token];
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", status: user ? { authenticated: true, user, audiences: review.spec.audiences } : { authenticated: false } }));
      });
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    const port = (api.address() as { port: number }).port;
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: tributary, user: {token: reviewer-token}}]\ncontexts: [{name: fake, context: {cluster: fake, user: tributary}}]\ncurrent-context: fake\n`,
    );
    try {
      ts = await startTestServer(authEnv({ AUTH_KUBERNETES: kubeconfig, AUTH_KUBERNETES_AUDIENCES: "tributary" }), T0);
      const s = sessions(ts);
      const r = await s.create({ body: { verb: Verb.INGEST } }, bearer("sa-node"));
      expect(r.body!.token!.body!.context.value).toMatchObject({ verb: Verb.INGEST, nodeName: "worker-3" });
      expect(new TextDecoder().decode(r.body!.token!.body!.ownerId!.value)).toBe("system:serviceaccount:calico-system:calico-node");
      expect(reviews[0]).toMatchObject({ kind: "TokenReview", spec: { token: "sa-node", audiences: ["tributary"] } });
      expect((await failure(s.create({ body: { verb: Verb.INGEST, nodeName: "worker-4" } }, bearer("sa-node")))).code).toBe(Code.PermissionDenied);
      expect((await failure(s.create({ body: { verb: Verb.INGEST } }, bearer("sa-nonode")))).rawMessage).toMatch(/no node binding/);
      const ui = await s.create({ body: { verb: Verb.QUERY } }, bearer("sa-ui"));
      expect(ui.body!.token!.body!.context.value).toMatchObject({ verb: Verb.QUERY, namespaces: ["a"] });
      expect((await failure(s.create({ body: { verb: Verb.QUERY } }, bearer("sa-other")))).code).toBe(Code.PermissionDenied);
      expect((await failure(s.create({ body: { verb: Verb.QUERY } }, bearer("not-a-token")))).code).toBe(Code.Unauthenticated);
      expect(await metricValue(ts.registry, "tributary_auth_sessions_created_total", { outcome: "ok", method: "kubernetes" })).toBe(2);
    } finally {
      await new Promise((r) => api.close(r));
    }
  });
});

/** Polls `f` (every 50 ms, up to 5 s) until it returns a value: the auth files are re-read on a timer. */
async function eventually<T>(f: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not reached in 5 s");
}

describe("AUTH_MODE mtls and mtls+token", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.cleanup());
  const read = (p: string) => fs.readFileSync(p);

  it("mtls: a client certificate is required; Create issues tokens bound to its CN", async () => {
    ts = await startTestServer({ ...authEnv({ AUTH_MODE: "mtls" }), SERVER_CERT_PATH: pki.serverCert, SERVER_KEY_PATH: pki.serverKey, CA_CERT_PATH: pki.caCert }, T0);
    const baseUrl = `https://127.0.0.1:${ts.port}`;
    const withCert = { ca: read(pki.caCert), cert: read(pki.clientCert), key: read(pki.clientKey) };
    const c = createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: withCert }));
    await expect(c.list({})).resolves.toBeDefined();
    await expect(createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: { ca: read(pki.caCert) } })).list({})).rejects.toThrow();
    const s = createClient(SessionService, createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: withCert }));
    const r = await s.create({ body: { verb: Verb.INGEST } });
    expect(r.body!.token!.body!.context.value).toMatchObject({ nodeName: "node-1" });
    expect(new TextDecoder().decode(r.body!.token!.body!.ownerId!.value)).toBe("node-1");
    expect((await failure(s.create({ body: { verb: Verb.INGEST, nodeName: "node-2" } }))).code).toBe(Code.PermissionDenied);
    // A token is optional in mtls mode, but checked when sent.
    const e = await failure(c.list({}, hdr(token({ verb: Verb.INGEST }))));
    expect(e.code).toBe(Code.PermissionDenied);
  });

  it("mtls+token: both a certificate and a token", async () => {
    ts = await startTestServer({ ...authEnv({ AUTH_MODE: "mtls+token" }), SERVER_CERT_PATH: pki.serverCert, SERVER_KEY_PATH: pki.serverKey, CA_CERT_PATH: pki.caCert }, T0);
    const baseUrl = `https://127.0.0.1:${ts.port}`;
    const withCert = { ca: read(pki.caCert), cert: read(pki.clientCert), key: read(pki.clientKey) };
    const c = createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: withCert }));
    const e = await failure(c.list({}));
    expect([e.code, e.rawMessage]).toEqual([Code.Unauthenticated, "missing session token (tributary-session-bin)"]);
    await expect(c.list({}, hdr(token({ verb: Verb.QUERY })))).resolves.toBeDefined();
    await expect(createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: { ca: read(pki.caCert) } })).list({}, hdr(token({ verb: Verb.QUERY })))).rejects.toThrow();
    // The agent's certificate authenticates Create; its token then ingests as its CN.
    const s = createClient(SessionService, createGrpcTransport({ baseUrl, nodeOptions: withCert }));
    const tok = Buffer.from(encodeToken((await s.create({ body: { verb: Verb.INGEST } })).body!.token!)).toString("base64");
    const ing = createClient(FlowCollector, createGrpcTransport({ baseUrl, nodeOptions: withCert }));
    async function* one() {
      yield wireUpdate(OLD);
    }
    let n = 0;
    for await (const _ of ing.connect(one(), hdr(tok))) n++;
    expect(n).toBe(1);
    expect(await metricValue(ts.registry, "goldmane_collector_received_flows", { source: "node-1" })).toBe(1);
  });

  it("stops start-up when the mode cannot be enforced", async () => {
    await expect(startTestServer({ AUTH_MODE: "mtls" }, T0)).rejects.toThrow(/AUTH_MODE: "mtls" needs client certificates/);
    await expect(startTestServer({ AUTH_MODE: "token" }, T0)).rejects.toThrow(/AUTH_MODE: "token" needs issuer keys/);
    await expect(startTestServer({ AUTH_MODE: "token", AUTH_ISSUER_KEY_PATH: path.join(dir, "nope") }, T0)).rejects.toThrow(/AUTH_ISSUER_KEY_PATH/);
    await expect(startTestServer({ AUTH_BOOTSTRAP_PATH: path.join(dir, "revoked.txt") }, T0)).rejects.toThrow(/AUTH_BOOTSTRAP_PATH/);
  });
});

describe("CORS (CORS_ALLOWED_ORIGINS) and browsers", () => {
  it("answers preflights for allowed origins with the session headers, refuses others, tags answers", async () => {
    ts = await startTestServer(authEnv({ CORS_ALLOWED_ORIGINS: "https://ui.example.com" }), T0);
    const pre = await fetch(`${ts.baseUrl}/goldmane.Flows/List`, {
      method: "OPTIONS",
      headers: { origin: "https://ui.example.com", "access-control-request-method": "POST", "access-control-request-headers": "content-type,tributary-session-bin" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
    expect(pre.headers.get("access-control-allow-headers")).toContain("tributary-session-bin");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const other = await fetch(`${ts.baseUrl}/goldmane.Flows/List`, { method: "OPTIONS", headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" } });
    expect(other.status).toBe(403);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    // A browser-style Connect call with the token in the header, as the built-in UI sends it.
    const res = await fetch(`${ts.baseUrl}/goldmane.Flows/List`, {
      method: "POST",
      headers: { origin: "https://ui.example.com", "content-type": "application/json", [SESSION_HEADER]: token({ verb: Verb.QUERY }) },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
    const denied = await fetch(`${ts.baseUrl}/goldmane.Flows/List`, { method: "POST", headers: { origin: "https://ui.example.com", "content-type": "application/json" }, body: "{}" });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
  });
});
