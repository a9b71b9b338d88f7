import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "../config/parse.js";
import { compressPublicKey, isP256, keyFingerprint } from "./keys.js";

/** One issuer key of the keyring. */
export interface IssuerKey {
  /** File it came from. */
  readonly file: string;
  readonly id: string;
  readonly compressed: Uint8Array;
  readonly publicKey: KeyObject;
  /** Absent for a public-key file (verify only). */
  readonly privateKey?: KeyObject;
  readonly mtimeMs: number;
}

/**
 * The issuer keys (AUTH_ISSUER_KEY_PATH): one PEM file, or a directory of them (`*.pem`, `*.key`,
 * `*.pub`). Every key verifies; the newest private key (latest mtime, then greatest file name, so
 * Secret volumes, whose files share one mtime, rotate by name) signs. A public-key file verifies
 * only: replicas that never issue need no private key.
 */
export interface Keyring {
  /** The signing key, or undefined when the keyring holds public keys only. */
  signer(): IssuerKey | undefined;
  /** The key with this compressed public key, if it is in the keyring. */
  find(compressed: Uint8Array): IssuerKey | undefined;
  keys(): readonly IssuerKey[];
  /** Re-reads the files; keeps the current keys (and throws) when none can be read. */
  reload(): void;
}

const KEY_FILE = /\.(pem|key|pub|crt)$/i;

function readKey(file: string): IssuerKey {
  const pem = fs.readFileSync(file);
  const st = fs.statSync(file);
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  if (/PRIVATE KEY-----/.test(pem.toString("latin1"))) {
    privateKey = createPrivateKey(pem);
    publicKey = createPublicKey(privateKey);
  } else {
    publicKey = createPublicKey(pem);
  }
  if (!isP256(publicKey)) throw new Error(`${file}: not an ECDSA P-256 key`);
  const compressed = compressPublicKey(publicKey);
  return { file, id: keyFingerprint(compressed), compressed, publicKey, privateKey, mtimeMs: st.mtimeMs };
}

/** Reads every key under `p` (a file or a directory). Throws naming the file on a bad key. */
export function readKeys(p: string): IssuerKey[] {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return [readKey(p)];
  const out: IssuerKey[] = [];
  for (const name of fs.readdirSync(p).sort()) {
    // Kubernetes Secret volumes hold ..data and ..<timestamp> entries beside the key links.
    if (name.startsWith(".") || !KEY_FILE.test(name)) continue;
    const file = path.join(p, name);
    if (!fs.statSync(file).isFile()) continue;
    out.push(readKey(file));
  }
  return out;
}

function newest(keys: readonly IssuerKey[]): IssuerKey | undefined {
  let best: IssuerKey | undefined;
  for (const k of keys) {
    if (!k.privateKey) continue;
    if (!best || k.mtimeMs > best.mtimeMs || (k.mtimeMs === best.mtimeMs && path.basename(k.file) > path.basename(best.file))) best = k;
  }
  return best;
}

/** Loads the keyring; a missing, empty or invalid path is a {@link ConfigError} on AUTH_ISSUER_KEY_PATH. */
export function loadKeyring(p: string): Keyring {
  let keys: IssuerKey[];
  const load = () => {
    let ks: IssuerKey[];
    try {
      ks = readKeys(p);
    } catch (e) {
      throw new ConfigError("AUTH_ISSUER_KEY_PATH", `cannot read "${p}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (ks.length === 0) throw new ConfigError("AUTH_ISSUER_KEY_PATH", `no P-256 keys (*.pem, *.key, *.pub) in "${p}"`);
    return ks;
  };
  keys = load();
  let byKey = new Map(keys.map((k) => [Buffer.from(k.compressed).toString("hex"), k]));
  let signing = newest(keys);
  return {
    signer: () => signing,
    find: (c) => byKey.get(Buffer.from(c).toString("hex")),
    keys: () => keys,
    reload() {
      keys = load();
      byKey = new Map(keys.map((k) => [Buffer.from(k.compressed).toString("hex"), k]));
      signing = newest(keys);
    },
  };
}
