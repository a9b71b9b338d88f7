/**
 * Cluster mode end to end (issue 14 items 1-4 and 6): a 3-server NATS cluster with JetStream and a
 * stream of 3 copies, Tributary as separate processes (two of role ingest, two of role query),
 * Felix-like lock-step agents spread over the ingest replicas. While the agents send, an ingest
 * replica is SIGKILLed, a NATS server is SIGKILLed, and the whole log is stopped (SIGSTOP) for a
 * while. Then: every update the agents got a receipt for is in both query replicas exactly once,
 * the query replicas answer byte for byte alike, and a query replica started afresh (loading
 * the newest snapshot from the bucket, then replaying) answers the same.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CliProcess } from "../helpers/spawn.js";
import { freePort, startNatsCluster } from "../helpers/nats-server.js";
import { agentFrames, felixAgent } from "../helpers/felix-agents.js";
import { replicaAnswers, streamLastSeq, waitFor } from "../helpers/cluster.js";
import { rawConnect } from "../helpers/raw-grpc.js";

const W = 15;
const STREAM = "flows-e2e";
let nats: Awaited<ReturnType<typeof startNatsCluster>>;
const procs: Replica[] = [];

interface Replica {
  proc: CliProcess;
  port: number;
  metricsPort: number;
  baseUrl: string;
}

async function startReplica(role: "ingest" | "query" | "all"): Promise<Replica> {
  const metricsPort = await freePort();
  const proc = runCli(["serve"], {
    HOST: "127.0.0.1",
    PORT: "0",
    HEALTH_ENABLED: "false",
    PROMETHEUS_PORT: String(metricsPort),
    LOG_LEVEL: "info",
    NATS_URL: nats.urls,
    CLUSTER_ROLE: role,
    CLUSTER_STREAM: STREAM,
    CLUSTER_STREAM_REPLICAS: "3",
    CLUSTER_SNAPSHOT_BUCKET: "snaps-e2e",
    CLUSTER_SNAPSHOT_INTERVAL: "1s",
    CLUSTER_APPEND_TIMEOUT: "2s",
    // No time marks once the agents are done: the replicas settle on one log position.
    CLUSTER_TICK_INTERVAL: "1h",
    AGGREGATION_WINDOW: `${W}s`,
    SHUTDOWN_TIMEOUT: "2s",
  });
  const line = await proc.waitForLog((l) => l.msg === "serving gRPC, gRPC-web and Connect", 60_000);
  const port = Number(line.port);
  const r = { proc, port, metricsPort, baseUrl: `http://127.0.0.1:${port}` };
  procs.push(r);
  return r;
}

async function metric(r: Replica, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

async function settled(replicas: Replica[]): Promise<number> {
  let last = 0;
  await waitFor(
    "query replicas to apply the whole log",
    async () => {
      last = await streamLastSeq(nats.urls, STREAM);
      for (const r of replicas) if ((await metric(r, "tributary_cluster_applied_sequence")) !== last) return false;
      return true;
    },
    90_000,
  );
  return last;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  nats = await startNatsCluster(3);
}, 60_000);

afterAll(async () => {
  for (const r of procs) {
    if (r.proc.child.exitCode === null && r.proc.child.signalCode === null) {
      r.proc.child.kill("SIGKILL");
      await r.proc.exited;
    }
  }
  await nats?.stop();
}, 60_000);

describe("cluster mode: separate ingest and query processes on a 3-server NATS cluster", () => {
  it("loses and doubles nothing receipted through a replica crash, a NATS server crash and a log outage", async () => {
    const ingest = [await startReplica("ingest"), await startReplica("ingest")];
    const query = [await startReplica("query"), await startReplica("query")];
    const start = Math.floor(Date.now() / 1000 / W) * W - W;
    const AGENTS = 40;
    const UPDATES = 60;
    const targets = ingest.map((r) => r.baseUrl);
    const agents = Array.from({ length: AGENTS }, (_, id) => felixAgent({ id, frames: agentFrames(id, UPDATES, start), targets, retryMs: 300 }));
    const running = Promise.all(agents.map((a) => a.run()));
    const receipted = () => agents.reduce((n, a) => n + a.receipted.filter(Boolean).length, 0);

    await waitFor("some receipts", () => receipted() > AGENTS * 5);
    // 1. A Tributary replica dies mid-ingest: its agents reconnect to the other one and replay.
    ingest[0]!.proc.child.kill("SIGKILL");
    await waitFor("receipts after the crash", () => receipted() > AGENTS * 15);
    // 2. A NATS server of the cluster dies: the stream keeps its quorum (2 of 3 copies).
    await nats.servers[1]!.kill();
    await waitFor("receipts without n2", () => receipted() > AGENTS * 25, 60_000);
    // 3. The whole log is unreachable for a while: appends time out, calls end UNAVAILABLE.
    for (const s of nats.servers) if (s !== nats.servers[1]) s.pause();
    await sleep(3000);
    for (const s of nats.servers) if (s !== nats.servers[1]) s.resume();
    await nats.servers[1]!.restart();
    await running;

    expect(agents.every((a) => a.receipted.every(Boolean))).toBe(true);
    expect(agents.reduce((n, a) => n + a.failures, 0)).toBeGreaterThan(0);
    expect(agents.reduce((n, a) => n + a.replays, 0)).toBeGreaterThan(0);

    await settled(query);
    const answers = await Promise.all(query.map((r) => replicaAnswers(r.baseUrl)));
    // Every receipted update once: one row per (agent, update) key with its counters once.
    expect(answers[0]!.rows).toBe(AGENTS * UPDATES);
    expect(answers[0]!.packetsIn).toBe(AGENTS * UPDATES);
    expect(answers[1]!.list.equals(answers[0]!.list)).toBe(true);
    expect(answers[1]!.stats.equals(answers[0]!.stats)).toBe(true);
    expect(answers[1]!.hints.equals(answers[0]!.hints)).toBe(true);
    expect(await metric(ingest[1]!, "tributary_cluster_publish_failures_total")).toBeGreaterThan(0);

    // Each role serves only its side.
    const refused = await rawConnect(query[0]!.port, agentFrames(999, 1, start), {}, { localAddress: "127.0.99.1" });
    expect(refused.status).toBe(12); // UNIMPLEMENTED
    await expect(replicaAnswers(ingest[1]!.baseUrl)).rejects.toThrow(/unimplemented|not found/i);

    // 4. A query replica replaced by a fresh process: snapshot from the bucket, then the log.
    await waitFor("a snapshot of the settled log", async () => (await metric(query[0]!, "tributary_cluster_snapshot_sequence")) > 0);
    query[1]!.proc.child.kill("SIGKILL");
    const fresh = await startReplica("query");
    await settled([query[0]!, fresh]);
    expect(await metric(fresh, "tributary_cluster_snapshot_sequence")).toBeGreaterThan(0);
    await fresh.proc.waitForLog((l) => l.msg === "snapshot loaded from the bucket");
    const again = await replicaAnswers(fresh.baseUrl);
    expect(again.list.equals(answers[0]!.list)).toBe(true);
    expect(again.stats.equals(answers[0]!.stats)).toBe(true);
    expect(again.hints.equals(answers[0]!.hints)).toBe(true);
    // The log lines say role, stream and sequence.
    const caught = await fresh.proc.waitForLog((l) => l.msg === "replica caught up with the log");
    expect(caught).toMatchObject({ role: "query", stream: STREAM });
    expect(typeof caught.sequence).toBe("number");
  }, 300_000);
});
