import { createPublicKey } from "node:crypto";
import * as fs from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import { parseDurationMs } from "../config/parse.js";
import { Verb } from "../gen/tributary/session/v1/session_pb.js";
import { readKeys } from "./keyring.js";
import { compressPublicKey, generateP256Key, keyFingerprint } from "./keys.js";
import { encodeToken, issueToken, parseVerb, uuidString } from "./token.js";

function verbOption(raw: string): Verb {
  try {
    return parseVerb(raw);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function ttlOption(raw: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(raw);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  if (ms < 1000) throw new InvalidArgumentError(`must be at least 1s, got "${raw}"`);
  return Math.floor(ms / 1000);
}

const list = (raw: string) => raw.split(",").map((x) => x.trim()).filter((x) => x !== "");

interface IssueOptions {
  key: string;
  verb: Verb;
  node?: string;
  namespaces?: string[];
  ttl: number;
  owner: string;
  sessionKey?: string;
  json?: boolean;
}

/**
 * `tributary token keygen | issue`: offline administration of session tokens (docs/auth.md).
 * `keygen` writes a P-256 issuer key (PKCS#8 PEM, mode 0600); `issue` signs a token with the
 * newest key of a file or directory and prints it as base64, ready for `tributary-session-bin`.
 */
export function registerTokenCommand(program: Command): void {
  const token = program.command("token").description("issue session tokens and issuer keys");

  token
    .command("keygen")
    .description("write a new ECDSA P-256 issuer key (PEM, mode 0600) and print its key id")
    .requiredOption("--out <file>", "where to write the private key (refuses to overwrite)")
    .option("--public-out <file>", "also write the public key (for replicas that only verify)")
    .action((o: { out: string; publicOut?: string }) => {
      const key = generateP256Key();
      // wx: never overwrite an existing key by accident; 0600 from the first byte on disk.
      fs.writeFileSync(o.out, key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
      if (o.publicOut) fs.writeFileSync(o.publicOut, createPublicKey(key).export({ type: "spki", format: "pem" }), { mode: 0o644, flag: "wx" });
      process.stdout.write(`${keyFingerprint(compressPublicKey(key))}\n`);
    });

  token
    .command("issue")
    .description("print a signed session token (base64) for scripts and tests")
    .requiredOption("--key <path>", "issuer key file, or a directory of keys (the newest signs)")
    .requiredOption("--verb <verb>", "ingest, query or offload", verbOption)
    .option("--node <name>", "reporting node (ingest, offload)")
    .option("--namespaces <a,b>", "query scope: namespaces (default all)", list)
    .option("--ttl <duration>", "lifetime, e.g. 15m, 1h", ttlOption, 900)
    .option("--owner <subject>", "owner_id of the token", "tributary-cli")
    .option("--session-key <file>", "bind the token to this P-256 key (PEM, public or private): callers must then prove possession")
    .option("--json", "print {token, id, exp} as JSON instead of the bare token")
    .action((o: IssueOptions) => {
      const keys = readKeys(o.key).filter((k) => k.privateKey);
      const signer = keys.sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file)).at(-1);
      if (!signer?.privateKey) throw new Error(`--key: no private P-256 key in "${o.key}"`);
      const sessionKey = o.sessionKey ? compressPublicKey(createPublicKey(fs.readFileSync(o.sessionKey))) : undefined;
      const now = Date.now() / 1000;
      const t = issueToken(signer.privateKey, { verb: o.verb, owner: o.owner, node: o.node, namespaces: o.namespaces, ttlSec: o.ttl, sessionKey }, now);
      const b64 = Buffer.from(encodeToken(t)).toString("base64");
      if (o.json) process.stdout.write(`${JSON.stringify({ token: b64, id: uuidString(t.body!.id), exp: Number(t.body!.lifetime!.exp), keyId: signer.id })}\n`);
      else process.stdout.write(`${b64}\n`);
    });
}
