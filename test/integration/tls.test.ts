import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as fs from "node:fs";
import * as tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FlowCollector, Flows } from "../../src/gen/goldmane/api_pb.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { runCli } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";

const T0 = 1_700_000_010;
let pki: TestPki;
let ts: TestServer | undefined;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.cleanup());
afterEach(async () => {
  await ts?.close();
  ts = undefined;
});

const read = (p: string) => fs.readFileSync(p);

/** The certificate the server presents on a fresh TLS connection. */
function peerCertificate(port: number, opts: tls.ConnectionOptions = {}): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca: read(pki.caCert), ALPNProtocols: ["h2"], ...opts }, () => {
      resolve(s.getPeerCertificate());
      s.end();
    });
    s.on("error", reject);
  });
}

async function ingestOne(baseUrl: string, nodeOptions: object): Promise<number> {
  const client = createClient(FlowCollector, createGrpcTransport({ baseUrl, nodeOptions }));
  let receipts = 0;
  async function* one() {
    yield wireUpdate(T0 - 60);
  }
  for await (const _ of client.connect(one())) receipts++;
  return receipts;
}

describe("TLS on the RPC port", () => {
  it("serves gRPC (ingest fast lane and List) and Connect over HTTP/1.1 with SERVER_CERT_PATH/SERVER_KEY_PATH", async () => {
    ts = await startTestServer({ SERVER_CERT_PATH: pki.serverCert, SERVER_KEY_PATH: pki.serverKey }, T0);
    const baseUrl = `https://127.0.0.1:${ts.port}`;
    expect(await ingestOne(baseUrl, { ca: read(pki.caCert) })).toBe(1);
    const grpc = await createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: { ca: read(pki.caCert) } })).list({});
    expect(grpc.meta?.totalResults).toBe(1n);
    const h1 = await createClient(Flows, createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: read(pki.caCert) } })).list({});
    expect(h1.meta?.totalResults).toBe(1n);
    // Cleartext is not served on a TLS port.
    const plain = createClient(Flows, createGrpcTransport({ baseUrl: `http://127.0.0.1:${ts.port}` }));
    await expect(plain.list({})).rejects.toThrow();
  });

  it("requires and verifies client certificates when CA_CERT_PATH is set (mTLS)", async () => {
    ts = await startTestServer({ SERVER_CERT_PATH: pki.serverCert, SERVER_KEY_PATH: pki.serverKey, CA_CERT_PATH: pki.caCert }, T0);
    const baseUrl = `https://127.0.0.1:${ts.port}`;
    const withCert = { ca: read(pki.caCert), cert: read(pki.clientCert), key: read(pki.clientKey) };
    expect(await ingestOne(baseUrl, withCert)).toBe(1);
    const ok = await createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: withCert })).list({});
    expect(ok.meta?.totalResults).toBe(1n);
    // Without a client certificate the handshake is refused.
    const anon = createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: { ca: read(pki.caCert) } }));
    await expect(anon.list({})).rejects.toThrow();
    // A certificate from another CA is refused too.
    const other = makeTestPki();
    try {
      const stranger = createClient(Flows, createGrpcTransport({ baseUrl, nodeOptions: { ca: read(pki.caCert), cert: read(other.clientCert), key: read(other.clientKey) } }));
      await expect(stranger.list({})).rejects.toThrow();
    } finally {
      other.cleanup();
    }
  });

  it("reloads the certificate when the files change, without a restart", async () => {
    const certPath = `${pki.dir}/live.crt`;
    const keyPath = `${pki.dir}/live.key`;
    fs.copyFileSync(pki.serverCert, certPath);
    fs.copyFileSync(pki.serverKey, keyPath);
    ts = await startTestServer({ SERVER_CERT_PATH: certPath, SERVER_KEY_PATH: keyPath, TLS_RELOAD_INTERVAL: "100ms" }, T0);
    expect((await peerCertificate(ts.port)).subject.CN).toBe("server");
    const next = pki.newServerCert("server-renewed");
    // Swap the files the way a Secret update does: new contents under the same paths.
    fs.writeFileSync(certPath + ".tmp", read(next.cert));
    fs.writeFileSync(keyPath + ".tmp", read(next.key));
    fs.renameSync(keyPath + ".tmp", keyPath);
    fs.renameSync(certPath + ".tmp", certPath);
    let cn = "";
    for (let i = 0; i < 50 && cn !== "server-renewed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cn = String((await peerCertificate(ts.port)).subject.CN);
    }
    expect(cn).toBe("server-renewed");
  });

  it("honours TLS_MIN_VERSION", async () => {
    ts = await startTestServer({ SERVER_CERT_PATH: pki.serverCert, SERVER_KEY_PATH: pki.serverKey, TLS_MIN_VERSION: "TLSv1.3" }, T0);
    await expect(peerCertificate(ts.port, { maxVersion: "TLSv1.2" })).rejects.toThrow();
    expect((await peerCertificate(ts.port, { minVersion: "TLSv1.3" })).subject.CN).toBe("server");
  });
});

describe("TLS configuration errors stop start-up, naming the variable", () => {
  it.each([
    [{ SERVER_CERT_PATH: "/nonexistent/tls.crt", SERVER_KEY_PATH: "/nonexistent/tls.key" }, "SERVER_CERT_PATH"],
    [{ SERVER_KEY_PATH: "/x.key" }, "SERVER_CERT_PATH"],
    [{ CA_CERT_PATH: "/x.crt" }, "CA_CERT_PATH"],
    [{ TLS_MIN_VERSION: "TLSv1.0" }, "TLS_MIN_VERSION"],
  ])("%o", async (env, variable) => {
    const p = runCli(["serve"], { PORT: "0", HEALTH_PORT: "0", ...env });
    const exit = await p.exited;
    expect(exit.code).toBe(2);
    expect(p.stderr()).toContain(variable);
  });

  it("warns in the log when serving cleartext", async () => {
    const p = runCli(["serve"], { PORT: "0", HEALTH_ENABLED: "false", HOST: "127.0.0.1" });
    const warn = await p.waitForLog((l) => l.level === 40 && String(l.msg).includes("cleartext"));
    expect(warn).toBeTruthy();
    p.child.kill("SIGTERM");
    expect((await p.exited).code).toBe(0);
  });
});
