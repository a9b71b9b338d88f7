import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { randomUUID, type KeyObject } from "node:crypto";
import {
  OwnerIDSchema,
  SessionToken_Body_TokenLifetimeSchema,
  SessionToken_BodySchema,
  SessionTokenSchema,
  SignatureSchema,
  SignatureScheme,
  TributaryContextSchema,
  Verb,
  type SessionToken,
  type SessionToken_Body,
} from "../gen/tributary/session/v1/session_pb.js";
import { AuthError } from "./errors.js";
import { compressPublicKey, COMPRESSED_KEY_BYTES, importCompressedKey, keyFingerprint, signWith, verifyWith } from "./keys.js";

/** The verbs by their lower-case names (CLI, bootstrap file, metrics labels). */
export const VERB_NAMES = { ingest: Verb.INGEST, query: Verb.QUERY, offload: Verb.OFFLOAD } as const;
export type VerbName = keyof typeof VERB_NAMES;

/** The lower-case name of a verb ("unspecified" for 0). */
export function verbName(v: Verb): VerbName | "unspecified" {
  return v === Verb.INGEST ? "ingest" : v === Verb.QUERY ? "query" : v === Verb.OFFLOAD ? "offload" : "unspecified";
}

/** Parses a verb name, case-insensitively. */
export function parseVerb(raw: string): Verb {
  const v = (VERB_NAMES as Record<string, Verb>)[raw.trim().toLowerCase()];
  if (v === undefined) throw new Error(`must be one of ${Object.keys(VERB_NAMES).join(", ")}, got "${raw}"`);
  return v;
}

/** A verified token, as the rest of the server sees it. */
export interface Session {
  /** The token id as a canonical UUID string. */
  readonly id: string;
  readonly owner: string;
  readonly verb: Verb;
  /** The reporting node of INGEST/OFFLOAD tokens ("" = none). */
  readonly node: string;
  /** QUERY scope; empty = all namespaces. */
  readonly namespaces: readonly string[];
  readonly expSec: number;
  /** The holder's key (compressed) or undefined for a bearer token. */
  readonly sessionKey?: Uint8Array;
  /** Fingerprint of the issuer key that signed it. */
  readonly issuerKeyId: string;
}

/** What {@link issueToken} puts in a token. */
export interface TokenClaims {
  verb: Verb;
  owner: string;
  node?: string;
  namespaces?: readonly string[];
  /** Lifetime from `nowSec`, seconds. */
  ttlSec: number;
  /** Compressed P-256 key of the holder; omit for a bearer token. */
  sessionKey?: Uint8Array;
}

/** The canonical text form of 16 UUID bytes. */
export function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** UUID text → 16 bytes. */
export function uuidBytes(s: string): Uint8Array {
  return Buffer.from(s.replace(/-/g, ""), "hex");
}

/** Whether 16 bytes are a version-4, RFC 4122 variant UUID (FrostFS rejects other versions). */
function isUuidV4(b: Uint8Array): boolean {
  return b.length === 16 && (b[6]! & 0xf0) === 0x40 && (b[8]! & 0xc0) === 0x80;
}

/**
 * The stable encoding of a token body (reference §4.1): protobuf-es writes fields in ascending
 * number order, omits proto3 defaults, writes present empty messages with length 0; unknown fields
 * are never written, so a verifier re-encoding a parsed body gets the signed bytes back.
 */
export function stableBody(body: SessionToken_Body): Uint8Array {
  return toBinary(SessionToken_BodySchema, body, { writeUnknownFields: false });
}

/** Builds and signs a token with the issuer key (ECDSA P-256, SHA-512, as the FrostFS SDK). */
export function issueToken(issuer: KeyObject, claims: TokenClaims, nowSec: number): SessionToken {
  const now = Math.floor(nowSec);
  const body = create(SessionToken_BodySchema, {
    id: uuidBytes(randomUUID()),
    ownerId: create(OwnerIDSchema, { value: new TextEncoder().encode(claims.owner) }),
    lifetime: create(SessionToken_Body_TokenLifetimeSchema, { iat: BigInt(now), nbf: BigInt(now), exp: BigInt(now + Math.max(0, Math.floor(claims.ttlSec))) }),
    sessionKey: claims.sessionKey ?? new Uint8Array(0),
    context: {
      case: "tributary",
      value: create(TributaryContextSchema, { verb: claims.verb, nodeName: claims.node ?? "", namespaces: [...(claims.namespaces ?? [])] }),
    },
  });
  const scheme = SignatureScheme.ECDSA_SHA512;
  const signature = create(SignatureSchema, { key: compressPublicKey(issuer), sign: signWith(issuer, stableBody(body), scheme), scheme });
  return create(SessionTokenSchema, { body, signature });
}

/** The binary token, as sent (base64) in `tributary-session-bin`. */
export function encodeToken(t: SessionToken): Uint8Array {
  return toBinary(SessionTokenSchema, t, { writeUnknownFields: false });
}

/** What the verifier needs besides the token. */
export interface VerifyOptions {
  nowSec: number;
  skewSec: number;
  /** The issuer public key for a compressed key, or undefined when it is not in the keyring. */
  issuerKey(compressed: Uint8Array): KeyObject | undefined;
  /** Whether a token id (canonical UUID) is revoked. */
  isRevoked(id: string): boolean;
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** Decodes `-bin` metadata: base64, standard or URL alphabet, padded or not (gRPC and Connect). */
export function decodeBinaryHeader(v: string): Uint8Array | undefined {
  const s = v.trim();
  if (s === "" || !BASE64.test(s)) return undefined;
  return Buffer.from(s, "base64");
}

/**
 * Verifies a token in the order of docs/auth.md (reference §4.4 "Verification order"):
 * malformed, bad signature, unknown issuer key, expired, not yet valid, revoked. Throws
 * {@link AuthError}; the verb and proof of possession are the caller's next steps.
 */
export function verifyToken(bytes: Uint8Array, o: VerifyOptions): Session {
  let t: SessionToken;
  try {
    t = fromBinary(SessionTokenSchema, bytes, { readUnknownFields: false });
  } catch (e) {
    throw new AuthError("malformed", `malformed session token: ${(e as Error).message}`);
  }
  const malformed = (what: string) => new AuthError("malformed", `malformed session token: ${what}`);
  const b = t.body;
  const sig = t.signature;
  if (!b) throw malformed("no body");
  if (!sig) throw malformed("no signature");
  if (!isUuidV4(b.id)) throw malformed("id is not a UUIDv4");
  if (!b.ownerId || b.ownerId.value.length === 0) throw malformed("no owner_id");
  if (!b.lifetime) throw malformed("no lifetime");
  if (b.context.case !== "tributary") throw malformed("no tributary context");
  const ctx = b.context.value;
  if (ctx.verb !== Verb.INGEST && ctx.verb !== Verb.QUERY && ctx.verb !== Verb.OFFLOAD) throw malformed(`unknown verb ${ctx.verb}`);
  if (b.sessionKey.length !== 0) {
    try {
      importCompressedKey(b.sessionKey);
    } catch {
      throw malformed(`session_key is not a ${COMPRESSED_KEY_BYTES}-byte compressed P-256 key`);
    }
  }
  if (sig.scheme !== SignatureScheme.ECDSA_SHA512 && sig.scheme !== SignatureScheme.ECDSA_RFC6979_SHA256) throw malformed(`unsupported signature scheme ${sig.scheme}`);
  let signer: KeyObject;
  try {
    signer = importCompressedKey(sig.key);
  } catch {
    throw malformed("signature key is not a compressed P-256 key");
  }
  // The signature is checked against the key it names before the keyring is consulted, so a
  // tampered token reads "bad signature" whoever signed it (FrostFS: signature, then owner).
  if (!verifyWith(signer, stableBody(b), sig.sign, sig.scheme)) throw new AuthError("bad_signature", "session token signature does not verify");
  const issuer = o.issuerKey(sig.key);
  if (!issuer) throw new AuthError("unknown_key", "session token signed by an unknown issuer key");
  const now = o.nowSec;
  const exp = Number(b.lifetime.exp);
  const nbf = Number(b.lifetime.nbf);
  const iat = Number(b.lifetime.iat);
  // exp is inclusive (FrostFS SDK InvalidAt); the skew widens both ends.
  if (now > exp + o.skewSec) throw new AuthError("expired", `session token expired at ${exp} (now ${Math.floor(now)})`);
  if (nbf - o.skewSec > now || iat - o.skewSec > now) throw new AuthError("not_yet_valid", `session token not valid before ${Math.max(nbf, iat)} (now ${Math.floor(now)})`);
  const id = uuidString(b.id);
  if (o.isRevoked(id)) throw new AuthError("revoked", `session token revoked`);
  return {
    id,
    owner: new TextDecoder().decode(b.ownerId.value),
    verb: ctx.verb,
    node: ctx.nodeName,
    namespaces: ctx.namespaces,
    expSec: exp,
    sessionKey: b.sessionKey.length ? b.sessionKey : undefined,
    issuerKeyId: keyFingerprint(sig.key),
  };
}

