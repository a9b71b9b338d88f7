import { sign, verify, type KeyObject } from "node:crypto";
import { AuthError } from "./errors.js";
import { importCompressedKey } from "./keys.js";
import { uuidBytes } from "./token.js";

/** Request metadata carrying the token (binary, so base64 in the header value). */
export const SESSION_HEADER = "tributary-session-bin";
/** The proof of possession: 64-byte ECDSA P-256 SHA-256 signature r‖s, base64. */
export const PROOF_HEADER = "tributary-session-proof-bin";
/** The signing time of the proof, decimal Unix seconds. */
export const PROOF_TIME_HEADER = "tributary-session-time";

const DOMAIN = Buffer.from("tributary-session-proof-v1\0", "latin1");

/**
 * The bytes a proof signs: a domain tag, the token id (16 bytes), the method path (e.g.
 * `/goldmane.FlowCollector/Connect`), a NUL and the decimal time. Binding the path stops a proof
 * for one method from opening another; the time bounds replay to the clock skew.
 */
export function proofMessage(tokenId: Uint8Array, path: string, timeSec: number): Buffer {
  return Buffer.concat([DOMAIN, Buffer.from(tokenId), Buffer.from(path, "utf8"), Buffer.from([0]), Buffer.from(String(timeSec), "latin1")]);
}

/**
 * The proof headers a client with the session key sends on one call or stream (a helper for
 * agents, the bridge and tests; WebCrypto's ECDSA P-256/SHA-256 signature is the same r‖s).
 */
export function proofHeaders(tokenId: string | Uint8Array, sessionKey: KeyObject, path: string, nowSec: number): Record<string, string> {
  const id = typeof tokenId === "string" ? uuidBytes(tokenId) : tokenId;
  const t = Math.floor(nowSec);
  const sig = sign("sha256", proofMessage(id, path, t), { key: sessionKey, dsaEncoding: "ieee-p1363" });
  return { [PROOF_HEADER]: sig.toString("base64"), [PROOF_TIME_HEADER]: String(t) };
}

/**
 * Checks proofs and remembers the ones seen: a proof is accepted once within the skew window.
 * ECDSA signatures carry a fresh nonce, so a repeated `r` (the first 32 bytes, unchanged by
 * s → n−s malleation) is a replay. Bounded: beyond `maxEntries` the oldest are forgotten.
 */
export interface ProofChecker {
  check(sessionKey: Uint8Array, tokenId: string, path: string, proof: Uint8Array | undefined, timeRaw: string | undefined, nowSec: number): void;
}

/** Creates a {@link ProofChecker} with a replay window of ±`skewSec`. */
export function createProofChecker(skewSec: number, maxEntries = 100_000): ProofChecker {
  // r (hex) → the time after which a replay would fail the time check anyway.
  const seen = new Map<string, number>();
  const prune = (now: number) => {
    for (const [k, until] of seen) {
      if (until >= now && seen.size <= maxEntries) break;
      seen.delete(k);
    }
  };
  return {
    check(sessionKey, tokenId, path, proof, timeRaw, nowSec) {
      if (!proof) throw new AuthError("bad_proof", `proof of possession missing: the token has a session_key, send ${PROOF_HEADER} and ${PROOF_TIME_HEADER}`);
      if (timeRaw === undefined || !/^\d{1,12}$/.test(timeRaw.trim())) throw new AuthError("bad_proof", `proof of possession: ${PROOF_TIME_HEADER} must be Unix seconds`);
      const t = Number(timeRaw.trim());
      if (Math.abs(nowSec - t) > skewSec) throw new AuthError("bad_proof", `proof of possession: time ${t} is outside the allowed clock skew (now ${Math.floor(nowSec)})`);
      let key: KeyObject;
      try {
        key = importCompressedKey(sessionKey);
      } catch {
        throw new AuthError("malformed", "malformed session token: bad session_key");
      }
      const ok = proof.length === 64 && verify("sha256", proofMessage(Buffer.from(tokenId.replace(/-/g, ""), "hex"), path, t), { key, dsaEncoding: "ieee-p1363" }, proof);
      if (!ok) throw new AuthError("bad_proof", "proof of possession does not verify with the token's session_key");
      const r = Buffer.from(proof.subarray(0, 32)).toString("hex");
      prune(nowSec);
      if (seen.has(r)) throw new AuthError("bad_proof", "proof of possession replayed");
      seen.set(r, t + skewSec);
    },
  };
}
