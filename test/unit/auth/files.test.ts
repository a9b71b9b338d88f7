import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { Verb } from "../../../src/gen/tributary/session/v1/session_pb.js";
import { parseBootstrap } from "../../../src/auth/bootstrap.js";
import { compressPublicKey, generateP256Key } from "../../../src/auth/keys.js";
import { loadKeyring } from "../../../src/auth/keyring.js";
import { loadRevocationList, parseRevocationList } from "../../../src/auth/revocation.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-auth-unit-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const pem = (k = generateP256Key()) => ({ k, pem: k.export({ type: "pkcs8", format: "pem" }) as string });

describe("keyring (AUTH_ISSUER_KEY_PATH)", () => {
  it("loads one file or a directory; the newest private key signs, every key verifies", () => {
    const d = path.join(dir, "ring");
    fs.mkdirSync(d);
    const a = pem();
    const b = pem();
    const c = generateP256Key();
    fs.writeFileSync(path.join(d, "a.pem"), a.pem);
    fs.writeFileSync(path.join(d, "b.pem"), b.pem);
    fs.writeFileSync(path.join(d, "c.pub"), createPublicKey(c).export({ type: "spki", format: "pem" }));
    fs.writeFileSync(path.join(d, "README"), "not a key");
    fs.mkdirSync(path.join(d, "..2025_01_01"));
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(d, "b.pem"), old, old);
    const ring = loadKeyring(d);
    expect(ring.keys().length).toBe(3);
    expect(Buffer.from(ring.signer()!.compressed)).toEqual(Buffer.from(compressPublicKey(a.k)));
    expect(ring.find(compressPublicKey(c))?.privateKey).toBeUndefined();
    expect(ring.find(compressPublicKey(generateP256Key()))).toBeUndefined();
    // Same mtime: the greater name signs (Secret volumes).
    fs.utimesSync(path.join(d, "a.pem"), old, old);
    ring.reload();
    expect(Buffer.from(ring.signer()!.compressed)).toEqual(Buffer.from(compressPublicKey(b.k)));
    expect(loadKeyring(path.join(d, "a.pem")).keys().length).toBe(1);
  });

  it("names AUTH_ISSUER_KEY_PATH for a missing path, an empty directory, a non-P-256 key; reload keeps the old keys on error", () => {
    expect(() => loadKeyring(path.join(dir, "nope"))).toThrow(/AUTH_ISSUER_KEY_PATH: cannot read .*ENOENT/);
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    expect(() => loadKeyring(empty)).toThrow(/AUTH_ISSUER_KEY_PATH: no P-256 keys/);
    const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    fs.writeFileSync(path.join(dir, "ed.pem"), ed);
    expect(() => loadKeyring(path.join(dir, "ed.pem"))).toThrow(/not an ECDSA P-256 key/);
    const one = path.join(dir, "one.pem");
    fs.writeFileSync(one, pem().pem);
    const ring = loadKeyring(one);
    fs.writeFileSync(one, "garbage");
    expect(() => ring.reload()).toThrow(/AUTH_ISSUER_KEY_PATH/);
    expect(ring.keys().length).toBe(1);
  });
});

describe("revocation list (AUTH_REVOKED_PATH)", () => {
  it("parses one UUID a line with comments, case-insensitive; names a bad line", () => {
    const ids = parseRevocationList("# leaked\n\n  3F2504E0-4F89-41D3-9A0C-0305E82C3301  # in a log\n");
    expect([...ids]).toEqual(["3f2504e0-4f89-41d3-9a0c-0305e82c3301"]);
    expect(() => parseRevocationList("a\n3f2504e0\n")).toThrow(/line 1/);
  });
  it("reloads; an unreadable file at start is a ConfigError naming the variable", () => {
    const f = path.join(dir, "revoked");
    fs.writeFileSync(f, "");
    const r = loadRevocationList(f);
    expect(r.has("3f2504e0-4f89-41d3-9a0c-0305e82c3301")).toBe(false);
    fs.writeFileSync(f, "3f2504e0-4f89-41d3-9a0c-0305e82c3301\n");
    r.reload();
    expect(r.has("3F2504E0-4F89-41D3-9A0C-0305E82C3301")).toBe(true);
    expect(r.size).toBe(1);
    expect(() => loadRevocationList(path.join(dir, "none"))).toThrow(/AUTH_REVOKED_PATH/);
    expect(loadRevocationList("").size).toBe(0);
  });
});

describe("bootstrap file (AUTH_BOOTSTRAP_PATH)", () => {
  it("parses secrets, hashed secrets and ServiceAccounts with their grants", () => {
    const b = parseBootstrap(
      JSON.stringify([
        { name: "dev", secret: "0123456789abcdef", verbs: ["ingest", "QUERY"], node: "n1" },
        { secretSha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", verbs: ["query"], namespaces: ["a"] },
        { serviceAccount: "calico-system/calico-node", verbs: ["ingest"] },
      ]),
    );
    expect(b.bySecret("0123456789abcdef")).toMatchObject({ name: "dev", verbs: [Verb.INGEST, Verb.QUERY], node: "n1" });
    expect(b.bySecret("test")).toMatchObject({ name: "bootstrap-1", namespaces: ["a"] });
    expect(b.bySecret("nope")).toBeUndefined();
    expect(b.byServiceAccount("calico-system/calico-node")).toMatchObject({ name: "system:serviceaccount:calico-system:calico-node", verbs: [Verb.INGEST] });
  });
  it.each([
    ["{}", /JSON list/],
    ["[1]", /entry 0: must be an object/],
    ['[{"verbs":["query"]}]', /exactly one of secret/],
    ['[{"secret":"0123456789abcdef","serviceAccount":"a/b","verbs":["query"]}]', /exactly one of/],
    ['[{"secret":"short","verbs":["query"]}]', /at least 16/],
    ['[{"secret":"0123456789abcdef","verbs":[]}]', /verbs must not be empty/],
    ['[{"secret":"0123456789abcdef","verbs":["admin"]}]', /must be one of ingest, query, offload/],
    ['[{"secret":"0123456789abcdef","verbs":["query"],"role":"x"}]', /unknown field "role"/],
    ['[{"serviceAccount":"nons","verbs":["query"]}]', /namespace\/name/],
    ['[{"secretSha256":"abc","verbs":["query"]}]', /64 hex/],
    ["not json", /not JSON/],
  ])("rejects %s", (text, msg) => {
    expect(() => parseBootstrap(text)).toThrow(msg);
  });
});
