import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";

/**
 * NATS decentralised auth ("operator mode") for tests, made by hand as `nsc` would: an operator,
 * a system account, an application account with JetStream enabled, and a user of that account,
 * each a JWT signed with its issuer's NKey. {@link OperatorSetup.configFile} is a nats-server
 * config with the account JWTs preloaded in a memory resolver; {@link OperatorSetup.credsFile}
 * the user's `.creds` file (JWT + seed), what NATS_CREDS_PATH points at.
 */
export interface OperatorSetup {
  configFile: string;
  credsFile: string;
  /** A user of an account the server does not know (must be refused). */
  strangerCredsFile: string;
  cleanup(): void;
}

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");

function jwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims = {
    jti: randomBytes(16).toString("hex").toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  const body = b64url(JSON.stringify(claims));
  const sig = issuer.sign(new TextEncoder().encode(`${head}.${body}`));
  return `${head}.${body}.${b64url(sig)}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

function accountJwt(operator: KeyPair, account: KeyPair, name: string, jetstream: boolean): string {
  const limits = jetstream ? { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : UNLIMITED;
  return jwt(operator, account.getPublicKey(), name, { type: "account", limits, default_permissions: { pub: {}, sub: {} } });
}

function creds(account: KeyPair, user: KeyPair): string {
  const token = jwt(account, user.getPublicKey(), "tributary", { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  const seed = new TextDecoder().decode(user.getSeed());
  return [
    "-----BEGIN NATS USER JWT-----",
    token,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    seed,
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
}

export function makeOperatorSetup(): OperatorSetup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-nats-op-"));
  const operator = createOperator();
  const sys = createAccount();
  const app = createAccount();
  const config = [
    `operator: "${jwt(operator, operator.getPublicKey(), "tributary-test", { type: "operator", system_account: sys.getPublicKey() })}"`,
    `system_account: ${sys.getPublicKey()}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${sys.getPublicKey()}: "${accountJwt(operator, sys, "SYS", false)}"`,
    `  ${app.getPublicKey()}: "${accountJwt(operator, app, "flows", true)}"`,
    "}",
    "",
  ].join("\n");
  const configFile = path.join(dir, "operator.conf");
  fs.writeFileSync(configFile, config);
  const credsFile = path.join(dir, "tributary.creds");
  fs.writeFileSync(credsFile, creds(app, createUser()), { mode: 0o600 });
  const strangerCredsFile = path.join(dir, "stranger.creds");
  fs.writeFileSync(strangerCredsFile, creds(createAccount(), createUser()), { mode: 0o600 });
  return { configFile, credsFile, strangerCredsFile, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
