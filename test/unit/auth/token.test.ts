import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  SessionToken_BodySchema,
  SessionTokenSchema,
  SignatureScheme,
  Verb,
  type SessionToken,
} from "../../../src/gen/tributary/session/v1/session_pb.js";
import { AuthError } from "../../../src/auth/errors.js";
import { compressPublicKey, generateP256Key, importCompressedKey, keyFingerprint, signWith, verifyWith } from "../../../src/auth/keys.js";
import { decodeBinaryHeader, encodeToken, issueToken, stableBody, uuidString, verifyToken, type VerifyOptions } from "../../../src/auth/token.js";

const T = 1_700_000_000;
const issuer = generateP256Key();
const other = generateP256Key();
const opts = (o: Partial<VerifyOptions> = {}): VerifyOptions => ({
  nowSec: T,
  skewSec: 30,
  issuerKey: (c) => (Buffer.from(c).equals(Buffer.from(compressPublicKey(issuer))) ? importCompressedKey(c) : undefined),
  isRevoked: () => false,
  ...o,
});
const tok = (over: Partial<Parameters<typeof issueToken>[1]> = {}, key = issuer, now = T) =>
  issueToken(key, { verb: Verb.QUERY, owner: "alice", ttlSec: 600, ...over }, now);

function failure(f: () => unknown): AuthError {
  try {
    f();
  } catch (e) {
    if (e instanceof AuthError) return e;
    throw e;
  }
  throw new Error("expected an AuthError");
}

/** Re-signs a modified token with the issuer key (to reach the checks after the signature). */
function resign(t: SessionToken, key = issuer): Uint8Array {
  const sig = signWith(key, stableBody(t.body!), SignatureScheme.ECDSA_SHA512);
  return encodeToken(create(SessionTokenSchema, { body: t.body, signature: { key: compressPublicKey(key), sign: sig, scheme: SignatureScheme.ECDSA_SHA512 } }));
}

describe("keys", () => {
  it("compresses and imports P-256 keys, and rejects anything else", () => {
    const c = compressPublicKey(issuer);
    expect(c.length).toBe(33);
    expect([0x02, 0x03]).toContain(c[0]);
    expect(Buffer.from(compressPublicKey(importCompressedKey(c)))).toEqual(Buffer.from(c));
    expect(() => importCompressedKey(c.subarray(1))).toThrow(/33-byte/);
    expect(() => importCompressedKey(Buffer.concat([Buffer.from([0x04]), c.subarray(1)]))).toThrow();
    expect(keyFingerprint(c)).toMatch(/^[0-9a-f]{16}$/);
  });

  it("signs with FrostFS's schemes 0 (SHA-512, 0x04‖r‖s) and 1 (SHA-256, r‖s)", () => {
    const data = Buffer.from("body");
    const pub = importCompressedKey(compressPublicKey(issuer));
    const s0 = signWith(issuer, data, SignatureScheme.ECDSA_SHA512);
    expect([s0.length, s0[0]]).toEqual([65, 0x04]);
    expect(verifyWith(pub, data, s0, SignatureScheme.ECDSA_SHA512)).toBe(true);
    const s1 = signWith(issuer, data, SignatureScheme.ECDSA_RFC6979_SHA256);
    expect(s1.length).toBe(64);
    expect(verifyWith(pub, data, s1, SignatureScheme.ECDSA_RFC6979_SHA256)).toBe(true);
    expect(verifyWith(pub, data, s1, SignatureScheme.ECDSA_SHA512)).toBe(false);
    expect(verifyWith(pub, Buffer.from("other"), s0, SignatureScheme.ECDSA_SHA512)).toBe(false);
    expect(verifyWith(pub, data, s1, SignatureScheme.ECDSA_RFC6979_SHA256_WALLET_CONNECT)).toBe(false);
  });
});

describe("issueToken", () => {
  it("fills the FrostFS body: UUIDv4 id, owner, lifetime iat = nbf = now, exp = now + ttl, context", () => {
    const t = tok({ verb: Verb.INGEST, node: "node-1", ttlSec: 60 }, issuer, T + 0.7);
    const b = t.body!;
    expect(b.id.length).toBe(16);
    expect(uuidString(b.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new TextDecoder().decode(b.ownerId!.value)).toBe("alice");
    expect(b.lifetime).toMatchObject({ iat: BigInt(T), nbf: BigInt(T), exp: BigInt(T + 60) });
    expect(b.context).toMatchObject({ case: "tributary", value: { verb: Verb.INGEST, nodeName: "node-1", namespaces: [] } });
    expect(t.signature).toMatchObject({ scheme: SignatureScheme.ECDSA_SHA512 });
    expect(Buffer.from(t.signature!.key)).toEqual(Buffer.from(compressPublicKey(issuer)));
  });

  it("signs the stable encoding: ascending field numbers, so a re-encoded parsed body is byte-identical", () => {
    const t = tok({ namespaces: ["a", "b"], sessionKey: compressPublicKey(other) });
    const bytes = stableBody(t.body!);
    // Field tags in order: 1 id, 2 owner_id, 3 lifetime, 4 session_key, 7 context.
    const tags: number[] = [];
    for (let pos = 0; pos < bytes.length; ) {
      const tag = bytes[pos]! >> 3;
      tags.push(tag);
      const len = bytes[pos + 1]!; // every field here is length-delimited and < 128 bytes
      pos += 2 + len;
    }
    expect(tags).toEqual([1, 2, 3, 4, 7]);
    expect(Buffer.from(stableBody(fromBinary(SessionToken_BodySchema, bytes)))).toEqual(Buffer.from(bytes));
  });
});

describe("verifyToken, in order", () => {
  it("accepts a good token and returns the session", () => {
    const t = tok({ namespaces: ["a"] });
    const s = verifyToken(encodeToken(t), opts());
    expect(s).toMatchObject({ owner: "alice", verb: Verb.QUERY, namespaces: ["a"], node: "", expSec: T + 600, sessionKey: undefined });
    expect(s.id).toBe(uuidString(t.body!.id));
  });

  it("malformed: not protobuf, no body, no signature, bad id, no owner, no lifetime, no context, bad verb, bad session key, unknown scheme", () => {
    expect(failure(() => verifyToken(Buffer.from([0xff, 0xff, 0xff]), opts())).failure).toBe("malformed");
    const mut = (f: (t: SessionToken) => void) => {
      const t = tok();
      f(t);
      return failure(() => verifyToken(resign(t), opts()));
    };
    expect(failure(() => verifyToken(toBinary(SessionTokenSchema, create(SessionTokenSchema, {})), opts())).message).toMatch(/no body/);
    expect(failure(() => verifyToken(toBinary(SessionTokenSchema, create(SessionTokenSchema, { body: tok().body })), opts())).message).toMatch(/no signature/);
    expect(mut((t) => (t.body!.id = new Uint8Array(15))).message).toMatch(/UUIDv4/);
    expect(mut((t) => (t.body!.id[6] = 0x10)).message).toMatch(/UUIDv4/);
    expect(mut((t) => (t.body!.ownerId = undefined)).message).toMatch(/owner_id/);
    expect(mut((t) => (t.body!.lifetime = undefined)).message).toMatch(/lifetime/);
    expect(mut((t) => (t.body!.context = { case: undefined })).message).toMatch(/context/);
    expect(mut((t) => (t.body!.context.value!.verb = Verb.VERB_UNSPECIFIED)).message).toMatch(/verb/);
    expect(mut((t) => (t.body!.sessionKey = new Uint8Array(33))).message).toMatch(/session_key/);
    const t = tok();
    t.signature!.scheme = SignatureScheme.ECDSA_RFC6979_SHA256_WALLET_CONNECT;
    expect(failure(() => verifyToken(encodeToken(t), opts())).message).toMatch(/unsupported signature scheme/);
    for (const e of [mut((x) => (x.body!.lifetime = undefined))]) expect(e.code).toBe(16);
  });

  it("bad signature before unknown issuer key: a tampered token from an unknown key says bad signature", () => {
    const t = tok({}, other);
    t.body!.ownerId!.value = new TextEncoder().encode("mallory");
    expect(failure(() => verifyToken(encodeToken(t), opts())).failure).toBe("bad_signature");
    expect(failure(() => verifyToken(encodeToken(tok({}, other)), opts())).failure).toBe("unknown_key");
    // The signature key swapped for the issuer's: the signature no longer verifies.
    const swapped = tok({}, other);
    swapped.signature!.key = compressPublicKey(issuer);
    expect(failure(() => verifyToken(encodeToken(swapped), opts())).failure).toBe("bad_signature");
  });

  it("accepts SHA-256 (scheme 1) signatures too", () => {
    const t = tok();
    t.signature = { ...t.signature!, scheme: SignatureScheme.ECDSA_RFC6979_SHA256, sign: signWith(issuer, stableBody(t.body!), SignatureScheme.ECDSA_RFC6979_SHA256) };
    expect(verifyToken(encodeToken(t), opts()).owner).toBe("alice");
  });

  it("expired (exp inclusive, plus skew) before not yet valid; revoked after both", () => {
    const t = encodeToken(tok({ ttlSec: 100 }));
    expect(verifyToken(t, opts({ nowSec: T + 130 })).owner).toBe("alice");
    expect(failure(() => verifyToken(t, opts({ nowSec: T + 131 }))).failure).toBe("expired");
    expect(verifyToken(t, opts({ nowSec: T - 30 })).owner).toBe("alice");
    expect(failure(() => verifyToken(t, opts({ nowSec: T - 31 }))).failure).toBe("not_yet_valid");
    expect(failure(() => verifyToken(t, opts({ skewSec: 0, nowSec: T - 1 }))).message).toMatch(/not valid before/);
    expect(failure(() => verifyToken(t, opts({ isRevoked: () => true }))).message).toBe("session token revoked");
    // Expired wins over revoked.
    expect(failure(() => verifyToken(t, opts({ nowSec: T + 1000, isRevoked: () => true }))).failure).toBe("expired");
  });

  it("maps failures to codes: UNAUTHENTICATED, PERMISSION_DENIED only for verb and scope", () => {
    expect(new AuthError("revoked", "").code).toBe(16);
    expect(new AuthError("wrong_verb", "").code).toBe(7);
    expect(new AuthError("out_of_scope", "").code).toBe(7);
  });
});

describe("decodeBinaryHeader", () => {
  it("takes standard and URL base64, padded or not; refuses other text", () => {
    expect(Buffer.from(decodeBinaryHeader("+/8=")!)).toEqual(Buffer.from([0xfb, 0xff]));
    expect(Buffer.from(decodeBinaryHeader("-_8")!)).toEqual(Buffer.from([0xfb, 0xff]));
    expect(decodeBinaryHeader("not base64!")).toBeUndefined();
    expect(decodeBinaryHeader("")).toBeUndefined();
  });
});
