import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Verb } from "../../src/gen/tributary/session/v1/session_pb.js";
import { compressPublicKey, importCompressedKey, parsePrivateKeyPem, verifyToken } from "../../src/auth/index.js";
import { runCli } from "../helpers/spawn.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-token-cli-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]) {
  const p = runCli(args);
  const exit = await p.exited;
  return { code: exit.code, stdout: p.stdout(), stderr: p.stderr() };
}

describe("tributary token", () => {
  it("keygen writes a P-256 key with mode 0600, prints its id, never overwrites; issue signs tokens the server verifies", async () => {
    const key = path.join(dir, "issuer.pem");
    const pub = path.join(dir, "issuer.pub");
    const gen = await cli(["token", "keygen", "--out", key, "--public-out", pub]);
    expect(gen.code).toBe(0);
    expect(gen.stdout.trim()).toMatch(/^[0-9a-f]{16}$/);
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    const priv = parsePrivateKeyPem(fs.readFileSync(key));
    expect(fs.readFileSync(pub, "utf8")).toContain("PUBLIC KEY");
    const again = await cli(["token", "keygen", "--out", key]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/EEXIST/);

    const issued = await cli(["token", "issue", "--key", key, "--verb", "query", "--namespaces", "a,b", "--ttl", "10m", "--owner", "ci", "--json"]);
    expect(issued.code).toBe(0);
    const out = JSON.parse(issued.stdout) as { token: string; id: string; exp: number; keyId: string };
    expect(out.keyId).toBe(gen.stdout.trim());
    const now = Date.now() / 1000;
    const s = verifyToken(Buffer.from(out.token, "base64"), {
      nowSec: now,
      skewSec: 30,
      issuerKey: (c) => (Buffer.from(c).equals(Buffer.from(compressPublicKey(priv))) ? importCompressedKey(c) : undefined),
      isRevoked: () => false,
    });
    expect(s).toMatchObject({ verb: Verb.QUERY, owner: "ci", namespaces: ["a", "b"], id: out.id, sessionKey: undefined });
    expect(Math.abs(s.expSec - (now + 600))).toBeLessThan(30);

    const plain = await cli(["token", "issue", "--key", dir, "--verb", "ingest", "--node", "node-1"]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("refuses bad arguments", async () => {
    const key = path.join(dir, "k2.pem");
    expect((await cli(["token", "keygen", "--out", key])).code).toBe(0);
    const verb = await cli(["token", "issue", "--key", key, "--verb", "admin"]);
    expect(verb.code).not.toBe(0);
    expect(verb.stderr).toMatch(/must be one of ingest, query, offload/);
    const ttl = await cli(["token", "issue", "--key", key, "--verb", "query", "--ttl", "soon"]);
    expect(ttl.code).not.toBe(0);
    expect(ttl.stderr).toMatch(/invalid duration/);
    const nokey = await cli(["token", "issue", "--key", path.join(dir, "missing.pem"), "--verb", "query"]);
    expect(nokey.code).not.toBe(0);
  });
});
