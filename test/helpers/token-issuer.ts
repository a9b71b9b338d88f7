import type { KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { encodeToken, generateP256Key, issueToken, type TokenClaims } from "../../src/auth/index.js";
import type { Verb } from "../../src/gen/tributary/session/v1/session_pb.js";

/**
 * An issuer key for AUTH_MODE=token tests, written to a temporary folder for the describe block
 * that calls this (created before its tests, removed after): `env` is what a server needs to
 * verify tokens, `token` a base64 session token with the given claims, issued at `nowSec`.
 */
export function useTokenIssuer(nowSec: number): {
  env(): Record<string, string>;
  token(claims: Partial<TokenClaims> & { verb: Verb }): string;
} {
  let dir = "";
  let key: KeyObject | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-issuer-"));
    key = generateP256Key();
    fs.writeFileSync(path.join(dir, "issuer.pem"), key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return {
    env: () => ({ AUTH_MODE: "token", AUTH_ISSUER_KEY_PATH: path.join(dir, "issuer.pem") }),
    token: (claims) => Buffer.from(encodeToken(issueToken(key!, { owner: "test", ttlSec: 600, ...claims }, nowSec))).toString("base64"),
  };
}
