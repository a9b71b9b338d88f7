import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Verb } from "../../../src/gen/tributary/session/v1/session_pb.js";
import { createAuthorizer, verbsFor, withScope, type AuthMode, type CallInfo } from "../../../src/auth/authorize.js";
import { AuthError } from "../../../src/auth/errors.js";
import { compressPublicKey, generateP256Key, importCompressedKey } from "../../../src/auth/keys.js";
import { authMetrics } from "../../../src/auth/metrics.js";
import { createProofChecker, proofHeaders, SESSION_HEADER } from "../../../src/auth/proof.js";
import { encodeToken, issueToken, uuidString } from "../../../src/auth/token.js";
import { MATCH_ALL } from "../../../src/query/filter.js";
import type { FlowKeyModel } from "../../../src/model/flow.js";

const T = 1_700_000_000;
const issuer = generateP256Key();
const LIST = "/goldmane.Flows/List";

function authorizer(mode: AuthMode, o: { allowBearer?: boolean; keys?: boolean } = {}) {
  const registry = new Registry();
  const metrics = authMetrics(registry);
  const az = createAuthorizer({
    mode,
    allowBearer: o.allowBearer ?? true,
    skewSec: 30,
    nowSec: () => T,
    proofs: createProofChecker(30),
    metrics,
    verify:
      o.keys === false
        ? undefined
        : { skewSec: 30, issuerKey: (c) => (Buffer.from(c).equals(Buffer.from(compressPublicKey(issuer))) ? importCompressedKey(c) : undefined), isRevoked: () => false },
  });
  return { az, registry };
}
const b64 = (t: ReturnType<typeof issueToken>) => Buffer.from(encodeToken(t)).toString("base64");
const call = (path: string, headers: Record<string, string> = {}, cert: CallInfo["clientCertificate"] = undefined): CallInfo => ({ path, header: (n) => headers[n], clientCertificate: cert });
const err = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as AuthError;
  }
  throw new Error("expected a failure");
};

describe("verbsFor", () => {
  it("maps methods to verbs: Connect to INGEST/OFFLOAD, Flows and Statistics to QUERY, Create open, others none", () => {
    expect(verbsFor("/goldmane.FlowCollector/Connect")).toEqual([Verb.INGEST, Verb.OFFLOAD]);
    expect(verbsFor("/goldmane.Flows/Stream")).toEqual([Verb.QUERY]);
    expect(verbsFor("/goldmane.Statistics/List")).toEqual([Verb.QUERY]);
    expect(verbsFor("/tributary.session.v1.SessionService/Create")).toBe("open");
    expect(verbsFor("/other.Service/Do")).toEqual([]);
  });
});

describe("AUTH_MODE", () => {
  const q = b64(issueToken(issuer, { verb: Verb.QUERY, owner: "o", ttlSec: 60 }, T));
  it("none: anonymous calls pass; a token that is sent is still verified", () => {
    const { az } = authorizer("none");
    expect(az(call(LIST)).session).toBeUndefined();
    expect(az(call(LIST, { [SESSION_HEADER]: q })).session?.owner).toBe("o");
    expect(err(() => az(call(LIST, { [SESSION_HEADER]: "AAAA" }))).failure).toBe("malformed");
    // Without issuer keys a token cannot be checked, and is ignored.
    expect(authorizer("none", { keys: false }).az(call(LIST, { [SESSION_HEADER]: "AAAA" })).session).toBeUndefined();
  });
  it("mtls: a call known to have no certificate is refused; token optional", () => {
    const { az } = authorizer("mtls");
    expect(err(() => az(call(LIST, {}, null))).failure).toBe("no_client_certificate");
    expect(az(call(LIST, {}, { subject: "node-1" })).session).toBeUndefined();
  });
  it("token and mtls+token: a token is required except for Create", async () => {
    for (const mode of ["token", "mtls+token"] as const) {
      const { az, registry } = authorizer(mode);
      expect(err(() => az(call(LIST, {}, { subject: "x" }))).failure).toBe("missing");
      expect(az(call("/tributary.session.v1.SessionService/Create")).session).toBeUndefined();
      expect(az(call(LIST, { [SESSION_HEADER]: q }, { subject: "x" })).session?.verb).toBe(Verb.QUERY);
      const m = await registry.getSingleMetric("tributary_auth_total")!.get();
      expect(m.values.map((v) => [v.labels.outcome, v.labels.verb, v.value])).toEqual([
        ["missing", "query", 1],
        ["open", "create", 1],
        ["ok", "query", 1],
      ]);
    }
    expect(err(() => authorizer("mtls+token").az(call(LIST, { [SESSION_HEADER]: q }, null))).failure).toBe("no_client_certificate");
  });
  it("a method no verb grants is PERMISSION_DENIED", () => {
    const e = err(() => authorizer("token").az(call("/other.Service/Do", { [SESSION_HEADER]: q })));
    expect([e.failure, e.code]).toEqual(["wrong_verb", 7]);
  });
});

describe("bearer policy and proof of possession", () => {
  const sk = generateP256Key();
  const bound = issueToken(issuer, { verb: Verb.QUERY, owner: "o", ttlSec: 60, sessionKey: compressPublicKey(sk) }, T);
  const id = uuidString(bound.body!.id);
  it("a bearer token is refused when AUTH_ALLOW_BEARER=false; a bound token always needs its proof", () => {
    const bearer = b64(issueToken(issuer, { verb: Verb.QUERY, owner: "o", ttlSec: 60 }, T));
    expect(err(() => authorizer("token", { allowBearer: false }).az(call(LIST, { [SESSION_HEADER]: bearer }))).failure).toBe("bearer_refused");
    const { az } = authorizer("token", { allowBearer: true });
    expect(err(() => az(call(LIST, { [SESSION_HEADER]: b64(bound) }))).failure).toBe("bad_proof");
    expect(az(call(LIST, { [SESSION_HEADER]: b64(bound), ...proofHeaders(id, sk, LIST, T - 29) })).session?.id).toBe(id);
  });
  it("the proof is single-use, time-bounded by the skew, bound to the path and the token id", () => {
    const { az } = authorizer("token");
    const h = { [SESSION_HEADER]: b64(bound), ...proofHeaders(id, sk, LIST, T + 10) };
    az(call(LIST, h));
    expect(err(() => az(call(LIST, h))).message).toMatch(/replayed/);
    expect(err(() => az(call(LIST, { [SESSION_HEADER]: b64(bound), ...proofHeaders(id, sk, LIST, T + 31) }))).message).toMatch(/skew/);
    expect(err(() => az(call("/goldmane.Flows/FilterHints", { [SESSION_HEADER]: b64(bound), ...proofHeaders(id, sk, LIST, T) }))).message).toMatch(/does not verify/);
    expect(err(() => az(call(LIST, { [SESSION_HEADER]: b64(bound), ...proofHeaders("3f2504e0-4f89-41d3-9a0c-0305e82c3301", sk, LIST, T) }))).message).toMatch(/does not verify/);
    expect(err(() => az(call(LIST, { [SESSION_HEADER]: b64(bound), ...proofHeaders(id, sk, LIST, T), "tributary-session-time": "soon" }))).message).toMatch(/Unix seconds/);
  });
});

describe("namespace scope", () => {
  const key = (src: string, dst: string) => ({ sourceNamespace: src, destNamespace: dst }) as FlowKeyModel;
  it("a scoped QUERY token sees keys with source or destination namespace in scope; the filter narrows further", () => {
    const t = b64(issueToken(issuer, { verb: Verb.QUERY, owner: "o", ttlSec: 60, namespaces: ["a", "b"] }, T));
    const a = authorizer("token").az(call(LIST, { [SESSION_HEADER]: t }));
    const keys = [key("a", "x"), key("x", "b"), key("x", "y"), key("b", "a")];
    expect(keys.map(a.scope!)).toEqual([true, true, false, true]);
    expect(keys.map(withScope((k) => k.sourceNamespace !== "b", a.scope))).toEqual([true, true, false, false]);
    expect(withScope(() => true, undefined)(key("z", "z"))).toBe(true);
  });
  it("requireInScope refuses only filters that can match nothing in scope", () => {
    const t = b64(issueToken(issuer, { verb: Verb.QUERY, owner: "o", ttlSec: 60, namespaces: ["a"] }, T));
    const a = authorizer("token").az(call(LIST, { [SESSION_HEADER]: t }));
    const exact = (v: string) => [{ value: v, fuzzy: false }];
    expect(() => a.requireInScope({ ...MATCH_ALL, sourceNamespaces: exact("x"), destNamespaces: exact("y") })).toThrow(/out of the token's scope/);
    expect(() => a.requireInScope({ ...MATCH_ALL, sourceNamespaces: exact("x") })).not.toThrow();
    expect(() => a.requireInScope({ ...MATCH_ALL, sourceNamespaces: exact("x"), destNamespaces: exact("a") })).not.toThrow();
    expect(() => a.requireInScope({ ...MATCH_ALL, sourceNamespaces: [{ value: "x", fuzzy: true }], destNamespaces: exact("y") })).not.toThrow();
    // An unscoped token has no scope at all.
    const all = authorizer("token").az(call(LIST, { [SESSION_HEADER]: b64(issueToken(issuer, { verb: Verb.QUERY, owner: "o", ttlSec: 60 }, T)) }));
    expect(all.scope).toBeUndefined();
  });
});
