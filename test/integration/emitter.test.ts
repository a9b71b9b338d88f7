/**
 * Issue 13 item 5: the Goldmane emitter against a real HTTPS server that requires the client
 * certificate, with progress in the fake Kubernetes API's ConfigMap. Flows go in over gRPC; time
 * is a manual clock, and a rollover is `aggregator.tick()` after moving it.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadServeConfig } from "../../src/config/serve-config.js";
import { FlowCollector } from "../../src/gen/goldmane/api_pb.js";
import { manualClock, type ManualClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTributaryServer, type TributaryServer } from "../../src/server/app.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { startFakeKubeApi, type FakeKubeApi } from "../helpers/fake-kube-api.js";
import { metricValue } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

/** A window start: a multiple of 60 (EMITTER_AGGREGATION_WINDOW in these tests) and of 15 (W). */
const S0 = 1_700_000_040;

interface Received {
  method: string;
  url: string;
  contentType: string;
  clientCn: string | undefined;
  body: string;
}

/** The push endpoint (Linseed/Guardian's bulk API): HTTPS, client certificate required. */
interface PushServer {
  url: string;
  received: Received[];
  /** Statuses to answer, in order; 200 once they run out. */
  statuses: number[];
  close(): Promise<void>;
}

let pki: TestPki;
let kube: FakeKubeApi;
let tmp: string;
let kubeconfig: string;
const cleanups: (() => Promise<void> | void)[] = [];
/** A fresh namespace per test, so each starts without saved progress. */
let ns = "";
let nsCount = 0;

beforeAll(async () => {
  pki = makeTestPki();
  kube = await startFakeKubeApi();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-emitter-"));
  kubeconfig = path.join(tmp, "kubeconfig");
  fs.writeFileSync(kubeconfig, kube.kubeconfigText());
});
afterAll(async () => {
  await kube.close();
  pki.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  ns = `calico-system-${++nsCount}`;
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startPushServer(): Promise<PushServer> {
  const received: Received[] = [];
  const statuses: number[] = [];
  const server = https.createServer(
    { key: fs.readFileSync(pki.serverKey), cert: fs.readFileSync(pki.serverCert), ca: fs.readFileSync(pki.caCert), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (c: string) => (body += c));
      req.on("end", () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        received.push({ method: req.method ?? "", url: req.url ?? "", contentType: String(req.headers["content-type"]), clientCn: peer?.subject?.CN as string | undefined, body });
        res.writeHead(statuses.shift() ?? 200).end();
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const p: PushServer = {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/flows/bulk`,
    received,
    statuses,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  cleanups.push(() => p.close());
  return p;
}

interface Running {
  server: TributaryServer;
  clock: ManualClock;
  registry: Registry;
  port: number;
  /** Moves the clock to `t` and rolls over, then waits for the emitter to settle. */
  at(t: number): Promise<void>;
  close(): Promise<void>;
}

async function startServer(push: PushServer, env: Record<string, string> = {}, startSec = S0): Promise<Running> {
  const config = loadServeConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    HEALTH_ENABLED: "false",
    SHUTDOWN_TIMEOUT: "2s",
    PUSH_URL: push.url,
    CA_CERT_PATH: pki.caCert,
    CLIENT_CERT_PATH: pki.clientCert,
    CLIENT_KEY_PATH: pki.clientKey,
    // The test CA's server certificate is for 127.0.0.1/localhost, not tigera-linseed.
    SERVER_NAME: "localhost",
    EMITTER_AGGREGATION_WINDOW: "1m",
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: ns,
    ...env,
  });
  const clock = manualClock(startSec);
  const registry = new Registry();
  const server = createTributaryServer(config, { log: silentLogger(), clock, registry, emitterTuning: { retryMinMs: 20, retryMaxMs: 80, fileConfigIntervalMs: 50 } });
  const { port } = await server.listen();
  let closed = false;
  const r: Running = {
    server,
    clock,
    registry,
    port,
    async at(t) {
      clock.advance(t - clock.nowSec());
      server.aggregator.tick();
      await settle(server);
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
    },
  };
  cleanups.push(() => r.close());
  await settle(server);
  return r;
}

/** Waits until the emitter has nothing running (retries included: their delays are short). */
async function settle(server: TributaryServer, ms = 400): Promise<void> {
  const until = Date.now() + ms;
  do {
    await server.emitter?.idle();
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < until);
  await server.emitter?.idle();
}

async function ingest(port: number, updates: ReturnType<typeof wireUpdate>[]): Promise<void> {
  const client = createClient(FlowCollector, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  let receipts = 0;
  async function* gen() {
    yield* updates;
  }
  for await (const _ of client.connect(gen())) receipts++;
  expect(receipts).toBe(updates.length);
}

const latest = () => kube.configMap(ns, "flow-emitter-state")?.data as Record<string, string> | undefined;

describe("emitter", () => {
  it("POSTs a closed window as Go-JSON ndjson over mTLS once it is EMIT_AFTER_SECONDS old, and keeps progress in flow-emitter-state", async () => {
    const push = await startPushServer();
    const s = await startServer(push);
    // Nothing held yet: the empty history is not POSTed, but progress is recorded (the last
    // window due: [S0-60, S0) closes at S0 and is due 30 s later).
    expect(push.received).toEqual([]);
    expect(latest()).toEqual({ latestTimestamp: String(S0 - 60) });

    await s.at(S0 + 31);
    await ingest(s.port, [
      wireUpdate(S0),
      wireUpdate(S0 + 15),
      wireUpdate(S0 + 30, { sourceName: "a<b>&c\u2028", destPort: 53n, proto: "udp", policies: { enforcedPolicies: [] } }, { sourceLabels: [], destLabels: ["k=v", "app=dns"] }),
    ]);
    // The window [S0, S0+60) closes at S0+60 and becomes due 30 s later.
    await s.at(S0 + 75);
    expect(push.received).toEqual([]);
    await s.at(S0 + 90);
    expect(push.received).toHaveLength(1);
    const got = push.received[0]!;
    expect(got).toMatchObject({ method: "POST", url: "/api/v1/flows/bulk", contentType: "application/x-ndjson", clientCn: "node-1" });
    const lines = got.body.split("\n");
    expect(lines).toHaveLength(2);
    expect(got.body.endsWith("\n")).toBe(false);
    // encoding/json of *proto.Flow: "Key" first, snake_case tags, enums as numbers, omitempty,
    // policies always an object, both buckets of the first key summed, end = last bucket's end.
    expect(lines).toContain(
      `{"Key":{"source_name":"client-*","source_namespace":"default","source_type":1,"dest_name":"server-*","dest_namespace":"default","dest_type":1,"dest_port":8080,"proto":"tcp","reporter":1,"action":1,"policies":{"enforced_policies":[{"kind":1,"namespace":"default","name":"allow-all","tier":"default","action":1}]}},"start_time":${S0},"end_time":${S0 + 30},"source_labels":["app=client"],"dest_labels":["app=server"],"packets_in":2,"packets_out":4,"bytes_in":200,"bytes_out":400,"num_connections_started":2,"num_connections_live":2}`,
    );
    expect(lines).toContain(
      `{"Key":{"source_name":"a\\u003cb\\u003e\\u0026c\\u2028","source_namespace":"default","source_type":1,"dest_name":"server-*","dest_namespace":"default","dest_type":1,"dest_port":53,"proto":"udp","reporter":1,"action":1,"policies":{}},"start_time":${S0 + 30},"end_time":${S0 + 45},"dest_labels":["app=dns","k=v"],"packets_in":1,"packets_out":2,"bytes_in":100,"bytes_out":200,"num_connections_started":1,"num_connections_live":1}`,
    );
    expect(latest()).toEqual({ latestTimestamp: String(S0 + 60) });
    expect(await metricValue(s.registry, "tributary_emitter_batches_sent_total")).toBe(1);
    expect(await metricValue(s.registry, "tributary_emitter_flows_sent_total")).toBe(2);
    expect(await metricValue(s.registry, "tributary_emitter_latest_timestamp_seconds")).toBe(S0 + 60);

    // An empty window sends nothing; the next window with flows goes on its own. An agent that
    // sends Flow IPs (fields 13/14) gets them in the line, as upstream PR #13063's emitter would.
    await s.at(S0 + 125);
    await ingest(s.port, [wireUpdate(S0 + 125, {}, { sourceIps: ["10.0.0.7"], destIps: ["10.0.1.9", "10.0.1.8"] })]);
    await s.at(S0 + 210);
    expect(push.received).toHaveLength(2);
    expect(JSON.parse(push.received[1]!.body)).toMatchObject({ start_time: S0 + 120, end_time: S0 + 135 });
    expect(push.received[1]!.body).toMatch(/"num_connections_live":1,"source_ips":\["10\.0\.0\.7"\],"dest_ips":\["10\.0\.1\.8","10\.0\.1\.9"\]\}$/);
    expect(latest()).toEqual({ latestTimestamp: String(S0 + 180) });
  });

  it("retries a failed POST with backoff until it is answered 200, counting the retries", async () => {
    const push = await startPushServer();
    push.statuses.push(500, 503);
    const s = await startServer(push);
    await ingest(s.port, [wireUpdate(S0 + 10)]);
    await s.at(S0 + 90);
    expect(push.received.map((r) => r.body)).toEqual(Array(3).fill(push.received[0]!.body));
    expect(await metricValue(s.registry, "tributary_emitter_batches_retried_total")).toBe(2);
    expect(await metricValue(s.registry, "tributary_emitter_batches_sent_total")).toBe(1);
    expect(await metricValue(s.registry, "tributary_emitter_batches_failed_total")).toBe(0);
    expect(latest()).toEqual({ latestTimestamp: String(S0 + 60) });
  });

  it("gives a window up after EMITTER_MAX_RETRIES and goes on with the next one", async () => {
    const push = await startPushServer();
    push.statuses.push(500, 500, 500);
    const s = await startServer(push, { EMITTER_MAX_RETRIES: "2" });
    await s.at(S0 + 70);
    await ingest(s.port, [wireUpdate(S0 + 10), wireUpdate(S0 + 70)]);
    // Both windows are due: the first fails 3 times (1 + 2 retries) and is given up; the second goes.
    await s.at(S0 + 150);
    expect(push.received).toHaveLength(4);
    expect(JSON.parse(push.received[3]!.body)).toMatchObject({ start_time: S0 + 60 });
    expect(await metricValue(s.registry, "tributary_emitter_batches_failed_total")).toBe(1);
    expect(await metricValue(s.registry, "tributary_emitter_batches_retried_total")).toBe(2);
    expect(await metricValue(s.registry, "tributary_emitter_batches_sent_total")).toBe(1);
    expect(latest()).toEqual({ latestTimestamp: String(S0 + 120) });
  });

  it("verifies the push server as SERVER_NAME: a certificate for another name is never sent to", async () => {
    const push = await startPushServer();
    const s = await startServer(push, { SERVER_NAME: "tigera-linseed.tigera-elasticsearch.svc" });
    await ingest(s.port, [wireUpdate(S0 + 10)]);
    await s.at(S0 + 90);
    expect(push.received).toEqual([]);
    expect(await metricValue(s.registry, "tributary_emitter_batches_retried_total")).toBeGreaterThan(0);
    expect(await metricValue(s.registry, "tributary_emitter_batches_sent_total")).toBe(0);
  });

  it("a restart neither re-sends nor skips a window (snapshot + ConfigMap progress)", async () => {
    const push = await startPushServer();
    const snapshot = path.join(tmp, "restart.snap");
    const a = await startServer(push, { SNAPSHOT_PATH: snapshot, SNAPSHOT_INTERVAL: "0" });
    await a.at(S0 + 70);
    await ingest(a.port, [wireUpdate(S0 + 10), wireUpdate(S0 + 70, { destPort: 1n })]);
    await a.at(S0 + 90);
    expect(push.received).toHaveLength(1);
    expect(latest()).toEqual({ latestTimestamp: String(S0 + 60) });
    await a.close();

    // Back 2 minutes later: the second window [S0+60, S0+120) is due; the first (restored from
    // the snapshot) was sent already.
    const b = await startServer(push, { SNAPSHOT_PATH: snapshot, SNAPSHOT_INTERVAL: "0" }, S0 + 200);
    await b.at(S0 + 200);
    expect(push.received).toHaveLength(2);
    const second = push.received[1]!.body.split("\n").map((l) => JSON.parse(l) as { start_time: number; Key: { dest_port: number } });
    expect(second).toEqual([expect.objectContaining({ start_time: S0 + 60, Key: expect.objectContaining({ dest_port: 1 }) })]);
    expect(latest()).toEqual({ latestTimestamp: String(S0 + 120) });
    // And once more without new flows: nothing is sent again.
    await b.at(S0 + 215);
    expect(push.received).toHaveLength(2);
  });

  it("waits while the progress cannot be read, rather than re-sending", async () => {
    const push = await startPushServer();
    kube.putConfigMap({ metadata: { name: "flow-emitter-state", namespace: ns }, data: { latestTimestamp: String(S0 + 60) } });
    kube.failConfigMaps(3);
    const s = await startServer(push);
    await s.at(S0 + 70);
    await ingest(s.port, [wireUpdate(S0 + 10), wireUpdate(S0 + 70)]);
    await s.at(S0 + 150);
    expect(await metricValue(s.registry, "tributary_emitter_state_errors_total", { op: "load" })).toBe(3);
    // Only the window after the saved progress.
    expect(push.received).toHaveLength(1);
    expect(JSON.parse(push.received[0]!.body)).toMatchObject({ start_time: S0 + 60 });
  });

  it("follows FILE_CONFIG_PATH: no emission while emitFlows is not true, the backlog once it is", async () => {
    const push = await startPushServer();
    const file = path.join(tmp, "config.json");
    fs.writeFileSync(file, JSON.stringify({ emitFlows: false }));
    const s = await startServer(push, { FILE_CONFIG_PATH: file });
    await s.at(S0 + 70);
    await ingest(s.port, [wireUpdate(S0 + 10), wireUpdate(S0 + 70)]);
    await s.at(S0 + 150);
    expect(push.received).toEqual([]);
    expect(await metricValue(s.registry, "tributary_emitter_enabled")).toBe(0);
    fs.writeFileSync(file, JSON.stringify({ emitFlows: true }));
    await settle(s.server, 600);
    expect(push.received.map((r) => (JSON.parse(r.body) as { start_time: number }).start_time)).toEqual([S0, S0 + 60]);
    expect(await metricValue(s.registry, "tributary_emitter_enabled")).toBe(1);
    // A file that disappears or is not JSON turns it off again.
    fs.writeFileSync(file, "{not json");
    await settle(s.server, 300);
    expect(s.server.emitter?.enabled).toBe(false);
  });
});

describe("emitter settings", () => {
  const base = { PUSH_URL: "https://push.example:443/api/v1/flows/bulk" };
  it.each([
    [{ EMITTER_AGGREGATION_WINDOW: "70s" }, /EMITTER_AGGREGATION_WINDOW: must be a multiple of AGGREGATION_WINDOW/],
    [{ EMIT_AFTER_SECONDS: "20" }, /EMIT_AFTER_SECONDS: must be a multiple of AGGREGATION_WINDOW/],
    [{ EMIT_AFTER_SECONDS: "-1" }, /EMIT_AFTER_SECONDS/],
    [{ EMITTER_AGGREGATION_WINDOW: "2h" }, /must fit the history/],
    [{ CLIENT_CERT_PATH: "/x.crt" }, /CLIENT_KEY_PATH: CLIENT_CERT_PATH and CLIENT_KEY_PATH must be set together/],
    [{ PUSH_URL: "ftp://x" }, /PUSH_URL: must be an http\(s\) URL/],
  ])("refuses %o", (env, message) => {
    expect(() => loadServeConfig({ ...base, ...env })).toThrow(message);
  });

  it("has Goldmane's defaults, and CA_CERT_PATH alone is the emitter's trust root", () => {
    expect(loadServeConfig({ ...base, CA_CERT_PATH: "/ca.crt" })).toMatchObject({
      emitAfterSec: 30,
      emitterWindowSec: 300,
      serverName: "tigera-linseed.tigera-elasticsearch.svc",
      emitterMaxRetries: 15,
      fileConfigPath: "",
      caCertPath: "/ca.crt",
    });
    expect(() => loadServeConfig({ CA_CERT_PATH: "/ca.crt" })).toThrow(/CA_CERT_PATH/);
  });

  it("stops start-up naming the variable when a certificate file is unusable", async () => {
    const push = await startPushServer();
    const config = loadServeConfig({ HOST: "127.0.0.1", PORT: "0", HEALTH_ENABLED: "false", PUSH_URL: push.url, CLIENT_CERT_PATH: path.join(tmp, "missing.crt"), CLIENT_KEY_PATH: pki.clientKey });
    const server = createTributaryServer(config, { log: silentLogger(), clock: manualClock(S0), registry: new Registry() });
    await expect(server.listen()).rejects.toThrow(/CLIENT_CERT_PATH: cannot read/);
    await server.close();
  });
});
