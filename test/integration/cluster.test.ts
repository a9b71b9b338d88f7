/**
 * Cluster mode on a real nats-server with JetStream (issue 14 items 1, 2, 4, 5): in-process
 * replicas (role all) share one stream; Felix-like lock-step agents spread over them; every
 * receipted flow is in every replica exactly once, the replicas answer byte for byte alike, a
 * replica started later loads the snapshot and answers the same, and with the log stopped
 * ingest ends with UNAVAILABLE and readiness is 503 until it is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { agentFrames, felixAgent } from "../helpers/felix-agents.js";
import { replicaAnswers, streamLastSeq, waitFor } from "../helpers/cluster.js";
import { rawConnect } from "../helpers/raw-grpc.js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FlowCollector } from "../../src/gen/goldmane/api_pb.js";
import { wireUpdate } from "../helpers/wire-flows.js";
import { toBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { FlowUpdateSchema } from "../../src/gen/goldmane/api_pb.js";
import { LogBatchWriter } from "../../src/cluster/log-codec.js";
import { makeTestPki } from "../helpers/certs.js";
import { makeOperatorSetup } from "../helpers/nats-operator.js";
import { runCli } from "../helpers/spawn.js";

const W = 15;
let nats: NatsServer;
const replicas: TestServer[] = [];

function clusterEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: nats.url,
    CLUSTER_STREAM: "flows-it",
    CLUSTER_SNAPSHOT_BUCKET: "snaps-it",
    // No time marks once traffic stops, so the replicas settle on one log position to compare.
    CLUSTER_TICK_INTERVAL: "1h",
    CLUSTER_APPEND_TIMEOUT: "1500ms",
    CLUSTER_SNAPSHOT_INTERVAL: "300ms",
    AGGREGATION_WINDOW: `${W}s`,
    ...extra,
  };
}

async function appliedSeq(ts: TestServer): Promise<number> {
  return metricValue(ts.registry, "tributary_cluster_applied_sequence");
}

async function settled(all: TestServer[]): Promise<number> {
  let last = 0;
  await waitFor("replicas to apply the whole log", async () => {
    last = await streamLastSeq(nats.url, "flows-it");
    for (const r of all) if ((await appliedSeq(r)) !== last) return false;
    return true;
  });
  return last;
}

beforeAll(async () => {
  nats = await startNatsServer();
  replicas.push(await startTestServer(clusterEnv()), await startTestServer(clusterEnv()));
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.close();
  await nats?.stop();
}, 60_000);

describe("cluster mode, one nats-server, two replicas of role all", () => {
  it("stores every receipted flow once in every replica; replicas agree byte for byte", async () => {
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const targets = replicas.map((r) => r.baseUrl);
    const agents = Array.from({ length: 20 }, (_, id) => felixAgent({ id, frames: agentFrames(id, 25, start), targets }));
    await Promise.all(agents.map((a) => a.run()));
    for (const a of agents) expect(a.receipted.every(Boolean)).toBe(true);

    const seq = await settled(replicas);
    expect(seq).toBeGreaterThan(0);
    const [a, b] = await Promise.all(replicas.map((r) => replicaAnswers(r.baseUrl)));
    expect(a!.rows).toBe(20 * 25);
    expect(a!.packetsIn).toBe(20 * 25);
    expect(b!.list.equals(a!.list)).toBe(true);
    expect(b!.stats.equals(a!.stats)).toBe(true);
    expect(b!.hints.equals(a!.hints)).toBe(true);
    // Batching: fewer log messages than updates, and metrics saw them.
    expect(await metricValue(replicas[0]!.registry, "tributary_cluster_appended_updates_total")).toBeGreaterThan(0);
  }, 120_000);

  it("a replay sent to the other replica is not counted twice", async () => {
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const frames = agentFrames(500, 10, start);
    const first = await rawConnect(replicas[0]!.port, frames, {}, { localAddress: "127.0.9.9" });
    expect(first.messages).toBe(10);
    const again = await rawConnect(replicas[1]!.port, frames, {}, { localAddress: "127.0.9.9" });
    expect(again.messages).toBe(10);
    await settled(replicas);
    const [a, b] = await Promise.all(replicas.map((r) => replicaAnswers(r.baseUrl)));
    expect(a!.rows).toBe(20 * 25 + 10);
    expect(a!.packetsIn).toBe(20 * 25 + 10);
    expect(b!.list.equals(a!.list)).toBe(true);
    expect(await metricValue(replicas[1]!.registry, "tributary_duplicate_flows_total")).toBeGreaterThanOrEqual(10);
  }, 60_000);

  it("a replica started later loads the newest snapshot, replays the rest and answers identically", async () => {
    await waitFor("a snapshot", async () => (await metricValue(replicas[0]!.registry, "tributary_cluster_snapshot_sequence")) > 0 || (await metricValue(replicas[1]!.registry, "tributary_cluster_snapshot_sequence")) > 0);
    const late = await startTestServer(clusterEnv());
    replicas.push(late);
    const seq = await settled(replicas);
    const loaded = await metricValue(late.registry, "tributary_cluster_snapshot_sequence");
    expect(loaded).toBeGreaterThan(0);
    expect(loaded).toBeLessThanOrEqual(seq);
    const answers = await Promise.all(replicas.map((r) => replicaAnswers(r.baseUrl)));
    for (const x of answers.slice(1)) {
      expect(x.list.equals(answers[0]!.list)).toBe(true);
      expect(x.stats.equals(answers[0]!.stats)).toBe(true);
      expect(x.hints.equals(answers[0]!.hints)).toBe(true);
    }
  }, 60_000);

  it("the Connect path (not the fast lane) appends too and receipts after the acknowledgement", async () => {
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const before = await replicaAnswers(replicas[0]!.baseUrl);
    const client = createClient(FlowCollector, createConnectTransport({ baseUrl: replicas[1]!.baseUrl, httpVersion: "2" }));
    async function* updates() {
      for (let i = 0; i < 5; i++) yield wireUpdate(start, { sourceName: "connect-agent", destPort: BigInt(i + 1) });
    }
    let receipts = 0;
    for await (const _ of client.connect(updates())) receipts++;
    expect(receipts).toBe(5);
    await settled(replicas);
    const after = await Promise.all(replicas.map((r) => replicaAnswers(r.baseUrl)));
    expect(after[0]!.rows).toBe(before.rows + 5);
    for (const x of after.slice(1)) expect(x.list.equals(after[0]!.list)).toBe(true);
  }, 60_000);

  it("a client that pipelines (sends without waiting for receipts) gets every receipt, in order, and every update once", async () => {
    // 600 updates written at once, each its own DATA frame: they arrive in many chunks while the
    // first chunk's receipts wait for the log, and the fast lane holds that input until then.
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const before = await replicaAnswers(replicas[0]!.baseUrl);
    const r = await rawConnect(replicas[0]!.port, agentFrames(700, 600, start), {}, { localAddress: "127.0.9.11" });
    expect(r.status).toBe(0);
    expect(r.messages).toBe(600);
    await settled(replicas);
    const after = await Promise.all(replicas.map((x) => replicaAnswers(x.baseUrl)));
    expect(after[0]!.rows).toBe(before.rows + 600);
    expect(after[0]!.packetsIn).toBe(before.packetsIn + 600);
    for (const x of after.slice(1)) expect(x.list.equals(after[0]!.list)).toBe(true);
  }, 60_000);

  it("with the log stopped, ingest ends with UNAVAILABLE and nothing is receipted; it recovers", async () => {
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const before = await replicaAnswers(replicas[0]!.baseUrl);
    nats.pause();
    try {
      const r = await rawConnect(replicas[0]!.port, agentFrames(600, 3, start), {}, { localAddress: "127.0.9.10" });
      expect(r.status).toBe(14);
      expect(r.messages).toBe(0);
      expect(await metricValue(replicas[0]!.registry, "tributary_cluster_log_up")).toBe(0);
      expect(await metricValue(replicas[0]!.registry, "tributary_cluster_publish_failures_total")).toBeGreaterThan(0);
    } finally {
      nats.resume();
    }
    // A probe brings it back; the agent's replay is then stored exactly once.
    await waitFor("the log to be up again", async () => (await metricValue(replicas[0]!.registry, "tributary_cluster_log_up")) === 1);
    const r = await rawConnect(replicas[0]!.port, agentFrames(600, 3, start), {}, { localAddress: "127.0.9.10" });
    expect(r.messages).toBe(3);
    await settled(replicas);
    const after = await Promise.all(replicas.map((x) => replicaAnswers(x.baseUrl)));
    expect(after[0]!.rows).toBe(before.rows + 3);
    for (const x of after.slice(1)) expect(x.list.equals(after[0]!.list)).toBe(true);
  }, 60_000);
});

describe("cluster mode, a query replica replaying a backlog of large log entries", () => {
  it("catches up without being cut off as a slow consumer", async () => {
    // 100 entries of ~800 KiB (~80 MiB) exceed nats-server's max_pending of 64 MiB: a consumer
    // that pulls them by count alone is disconnected again and again and never catches up.
    const stream = "backlog-it";
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.log`], max_age: 3600e9 });
    const js = jetstream(nc);
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const writer = new LogBatchWriter();
    const padding = "x".repeat(220);
    const KEYS = 2500;
    const ENTRIES = 100;
    for (let e = 0; e < ENTRIES; e++) {
      for (let k = 0; k < KEYS; k++) {
        const u = wireUpdate(start, { destName: `dst-${k}`, sourceName: padding }, { endTime: BigInt(start + 1 + (e % 10)), packetsIn: 1n });
        const bytes = toBinary(FlowUpdateSchema, u);
        writer.add(`node-${e}`, bytes, 0, bytes.length);
      }
      await js.publish(`${stream}.log`, writer.seal(Date.now()), { timeout: 30_000 });
    }
    const info = await jsm.streams.info(stream);
    expect(info.state.bytes).toBeGreaterThan(64 * 1024 * 1024);
    await nc.close();

    const replica = await startTestServer(clusterEnv({ CLUSTER_STREAM: stream, CLUSTER_SNAPSHOT_BUCKET: "backlog-snaps", CLUSTER_ROLE: "query", CLUSTER_SNAPSHOT_INTERVAL: "0" }));
    try {
      await waitFor("the replica to apply the whole backlog", async () => (await appliedSeq(replica)) === info.state.last_seq, 60_000);
      const answers = await replicaAnswers(replica.baseUrl);
      expect(answers.rows).toBe(KEYS);
      // Every entry came from its own node: nothing is a replay of another.
      expect(answers.packetsIn).toBe(KEYS * ENTRIES);
    } finally {
      await replica.close();
    }
  }, 120_000);
});

describe("cluster mode, snapshots from several replicas", () => {
  it("the replicas write about one snapshot per interval between them, not one each", async () => {
    const env = clusterEnv({ CLUSTER_STREAM: "snap-share", CLUSTER_SNAPSHOT_BUCKET: "snap-share", CLUSTER_SNAPSHOT_INTERVAL: "600ms", CLUSTER_TICK_INTERVAL: "100ms" });
    const a = await startTestServer(env);
    // Another phase: the second replica's turns come ~a third of an interval after the first's.
    await new Promise((r) => setTimeout(r, 200));
    const b = await startTestServer(env);
    const writes = async (ts: TestServer, result: string) => metricValue(ts.registry, "tributary_cluster_snapshot_writes_total", { result });
    try {
      // The time marks move the log on, so every turn has something new to write.
      await new Promise((r) => setTimeout(r, 6000));
      const written = (await writes(a, "written")) + (await writes(b, "written"));
      const skipped = (await writes(a, "recent_present")) + (await writes(b, "recent_present"));
      // ~10 turns each in 6 s: one each would be ~20 writes; shared, ~10 (a few more where a
      // turn came just after half an interval, or a write took a turn's time).
      expect(written).toBeGreaterThanOrEqual(5);
      expect(written).toBeLessThanOrEqual(14);
      expect(skipped).toBeGreaterThanOrEqual(5);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});

describe("cluster mode over TLS to NATS (NATS_CA_PATH, NATS_CERT_PATH, NATS_KEY_PATH)", () => {
  it("appends and applies through a nats-server that requires a client certificate", async () => {
    const pki = makeTestPki();
    const secure = await startNatsServer("tls", ["--tls", "--tlscert", pki.serverCert, "--tlskey", pki.serverKey, "--tlscacert", pki.caCert, "--tlsverify"]);
    const env = {
      NATS_URL: secure.url,
      NATS_CA_PATH: pki.caCert,
      NATS_CERT_PATH: pki.clientCert,
      NATS_KEY_PATH: pki.clientKey,
      CLUSTER_STREAM: "tls-it",
      CLUSTER_SNAPSHOT_BUCKET: "tls-snaps",
      CLUSTER_SNAPSHOT_INTERVAL: "0",
      AGGREGATION_WINDOW: `${W}s`,
    };
    const replica = await startTestServer(env);
    try {
      // Appends are refused until the first time mark reached the log (readiness 503 meanwhile).
      await waitFor("the log to be up", async () => (await metricValue(replica.registry, "tributary_cluster_log_up")) === 1);
      const start = Math.floor(Date.now() / 1000 / W) * W - W;
      const client = createClient(FlowCollector, createConnectTransport({ baseUrl: replica.baseUrl, httpVersion: "2" }));
      async function* updates() {
        for (let i = 0; i < 3; i++) yield wireUpdate(start, { sourceName: "tls-agent", destPort: BigInt(i + 1) });
      }
      let receipts = 0;
      for await (const _ of client.connect(updates())) receipts++;
      expect(receipts).toBe(3);
      await waitFor("the replica to apply its appends", async () => (await appliedSeq(replica)) >= 1 && (await replicaAnswers(replica.baseUrl)).rows === 3);
      expect(await metricValue(replica.registry, "tributary_cluster_appended_updates_total")).toBe(3);
      // The server really required the certificate: a client with the CA alone is refused.
      const bare = await connect({ servers: secure.url, tls: { caFile: pki.caCert }, reconnect: false }).then(
        (nc) => nc.close().then(() => "connected"),
        (e: Error) => e.message,
      );
      expect(bare).not.toBe("connected");
    } finally {
      await replica.close();
      await secure.stop();
      pki.cleanup();
    }
  }, 60_000);
});

describe("cluster mode with NATS_CREDS_PATH against an operator-mode nats-server (JWT + NKey accounts)", () => {
  it("appends and applies as the account's user; refused credentials stop the start with exit 2 naming the variable", async () => {
    const op = makeOperatorSetup();
    const secured = await startNatsServer("operator", ["-c", op.configFile]);
    const env = {
      NATS_URL: secured.url,
      CLUSTER_STREAM: "creds-it",
      CLUSTER_SNAPSHOT_BUCKET: "creds-snaps",
      CLUSTER_SNAPSHOT_INTERVAL: "0",
      AGGREGATION_WINDOW: `${W}s`,
    };
    try {
      const replica = await startTestServer({ ...env, NATS_CREDS_PATH: op.credsFile });
      try {
        await waitFor("the log to be up", async () => (await metricValue(replica.registry, "tributary_cluster_log_up")) === 1);
        const start = Math.floor(Date.now() / 1000 / W) * W - W;
        const r = await rawConnect(replica.port, agentFrames(800, 4, start), {}, { localAddress: "127.0.9.12" });
        expect(r.status).toBe(0);
        expect(r.messages).toBe(4);
        // Before its first apply the replica has no statistics to give (NOT_FOUND): not yet.
        await waitFor("the replica to apply its appends", async () => (await replicaAnswers(replica.baseUrl).catch(() => ({ rows: 0 }))).rows === 4);
        expect(await metricValue(replica.registry, "tributary_cluster_appended_updates_total")).toBe(4);
      } finally {
        await replica.close();
      }
      // A user of an account this server does not know, and no credentials at all.
      const stranger = runCli(["serve"], { PORT: "0", HEALTH_ENABLED: "false", HOST: "127.0.0.1", ...env, NATS_CREDS_PATH: op.strangerCredsFile });
      expect((await stranger.exited).code).toBe(2);
      expect(stranger.stderr()).toMatch(/invalid configuration: NATS_CREDS_PATH: the NATS server \(nats:\/\/127\.0\.0\.1:\d+\) refused the credentials in .*stranger\.creds: Authorization Violation/);
      const none = runCli(["serve"], { PORT: "0", HEALTH_ENABLED: "false", HOST: "127.0.0.1", ...env });
      expect((await none.exited).code).toBe(2);
      expect(none.stderr()).toMatch(/invalid configuration: NATS_URL: the NATS server .* requires credentials .*set NATS_CREDS_PATH/);
    } finally {
      await secured.stop();
      op.cleanup();
    }
  }, 60_000);
});
