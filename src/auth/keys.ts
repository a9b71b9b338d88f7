import { createHash, createPrivateKey, createPublicKey, ECDH, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { SignatureScheme } from "../gen/tributary/session/v1/session_pb.js";

/** Length of a compressed P-256 public key (FrostFS's key format). */
export const COMPRESSED_KEY_BYTES = 33;

/** Whether `key` is an EC key on P-256. */
export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
}

/** The 33-byte compressed encoding of a P-256 public (or private) key. */
export function compressPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const jwk = pub.export({ format: "jwk" });
  const x = Buffer.from(jwk.x!, "base64url");
  const y = Buffer.from(jwk.y!, "base64url");
  const out = new Uint8Array(COMPRESSED_KEY_BYTES);
  out[0] = (y[y.length - 1]! & 1) === 1 ? 0x03 : 0x02;
  out.set(x, 1);
  return out;
}

/** Imports a 33-byte compressed P-256 public key; throws on anything else (not on the curve, wrong size). */
export function importCompressedKey(bytes: Uint8Array): KeyObject {
  if (bytes.length !== COMPRESSED_KEY_BYTES || (bytes[0] !== 0x02 && bytes[0] !== 0x03)) {
    throw new Error(`must be a ${COMPRESSED_KEY_BYTES}-byte compressed P-256 key`);
  }
  const raw = ECDH.convertKey(bytes, "prime256v1", undefined, undefined, "uncompressed") as Buffer;
  return createPublicKey({
    key: { kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33, 65).toString("base64url") },
    format: "jwk",
  });
}

/** A short printable id of a public key: hex of the first 8 bytes of SHA-256(compressed key). */
export function keyFingerprint(compressed: Uint8Array): string {
  return createHash("sha256").update(compressed).digest("hex").slice(0, 16);
}

/** Generates a P-256 private key (the issuer key of `token keygen`, or a session key). */
export function generateP256Key(): KeyObject {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
}

/** Parses a PEM private key (PKCS#8 or SEC 1) and checks it is P-256. */
export function parsePrivateKeyPem(pem: string | Buffer): KeyObject {
  const k = createPrivateKey(pem);
  if (!isP256(k)) throw new Error("not an ECDSA P-256 key");
  return k;
}

/**
 * Signs `data` as FrostFS does with `scheme`: ECDSA_SHA512 gives 65 bytes 0x04‖r‖s,
 * ECDSA_RFC6979_SHA256 gives 64 bytes r‖s (node:crypto uses a random nonce, which verifies alike).
 */
export function signWith(key: KeyObject, data: Uint8Array, scheme: SignatureScheme = SignatureScheme.ECDSA_SHA512): Uint8Array {
  if (scheme === SignatureScheme.ECDSA_SHA512) {
    const rs = sign("sha512", data, { key, dsaEncoding: "ieee-p1363" });
    return Buffer.concat([Buffer.from([0x04]), rs]);
  }
  if (scheme === SignatureScheme.ECDSA_RFC6979_SHA256) return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
  throw new Error(`unsupported signature scheme ${scheme}`);
}

/** Verifies a signature made by {@link signWith}; false for a wrong size or an unsupported scheme. */
export function verifyWith(key: KeyObject, data: Uint8Array, sig: Uint8Array, scheme: SignatureScheme): boolean {
  try {
    if (scheme === SignatureScheme.ECDSA_SHA512) {
      if (sig.length !== 65 || sig[0] !== 0x04) return false;
      return verify("sha512", data, { key, dsaEncoding: "ieee-p1363" }, sig.subarray(1));
    }
    if (scheme === SignatureScheme.ECDSA_RFC6979_SHA256) {
      if (sig.length !== 64) return false;
      return verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig);
    }
  } catch {
    return false;
  }
  return false;
}
