import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FlowCollector, Flows, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { runCli } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// Issue 13 item 6: Flow.source_ips / dest_ips (upstream PR #13063), a capped set union per key and
// bucket, returned by List and Stream, kept by snapshots, free for agents that send none.

const T0 = 1_700_000_010;
const W = 15;
const b1 = T0 - 5 * W;
const b2 = T0 - 4 * W;

let servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.close();
  servers = [];
});

async function start(env: Record<string, string> = {}): Promise<TestServer> {
  const ts = await startTestServer(env, T0);
  servers.push(ts);
  return ts;
}

async function ingest(ts: TestServer, updates: FlowUpdate[], protocol: "grpc" | "connect" = "grpc"): Promise<void> {
  const transport = protocol === "grpc" ? createGrpcTransport({ baseUrl: ts.baseUrl }) : createConnectTransport({ baseUrl: ts.baseUrl, httpVersion: "2" });
  async function* gen() {
    yield* updates;
  }
  let n = 0;
  for await (const _ of createClient(FlowCollector, transport).connect(gen())) n++;
  expect(n).toBe(updates.length);
}

const ips = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}.${from + i}`);
const withIps = (startSec: number, sourceIps: string[], destIps: string[], end = startSec) =>
  wireUpdate(startSec, { destName: "api-*" }, { sourceIps, destIps, endTime: BigInt(end) });

describe.each(["grpc", "connect"] as const)("Flow IPs ingested over %s", (protocol) => {
  it("are a set union per key and bucket, returned by List (per key and per bucket) and Stream", async () => {
    const ts = await start();
    await ingest(
      ts,
      [
        withIps(b1, ["10.0.0.2", "10.0.0.1"], ["10.1.0.1"]),
        withIps(b1, ["10.0.0.1", "10.0.0.3"], [], b1 + 1), // another emission: union
        withIps(b2, ["10.0.0.9"], ["10.1.0.2"]),
        wireUpdate(b2, { destName: "quiet-*" }), // an agent that sends none
      ],
      protocol,
    );
    const flows = createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl }));
    const all = await flows.list({});
    const api = all.flows.find((f) => f.flow?.Key?.destName === "api-*")!.flow!;
    expect(api.sourceIps).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"]);
    expect(api.destIps).toEqual(["10.1.0.1", "10.1.0.2"]);
    const quiet = all.flows.find((f) => f.flow?.Key?.destName === "quiet-*")!.flow!;
    expect([quiet.sourceIps, quiet.destIps]).toEqual([[], []]);

    const perBucket = await flows.list({ aggregationInterval: BigInt(W), filter: { destNames: [{ value: "api-*" }] } });
    expect(perBucket.flows.map((f) => [Number(f.flow!.startTime), f.flow!.sourceIps, f.flow!.destIps])).toEqual([
      [b2, ["10.0.0.9"], ["10.1.0.2"]],
      [b1, ["10.0.0.1", "10.0.0.2", "10.0.0.3"], ["10.1.0.1"]],
    ]);

    const got: [number, string[]][] = [];
    const ac = new AbortController();
    try {
      for await (const r of flows.stream({ startTimeGte: BigInt(b1), filter: { destNames: [{ value: "api-*" }] } }, { signal: ac.signal })) {
        got.push([Number(r.flow!.startTime), r.flow!.sourceIps]);
        if (got.length === 2) ac.abort();
      }
    } catch (e) {
      if (ConnectError.from(e).code !== Code.Canceled) throw e;
    }
    expect(got).toEqual([
      [b1, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]],
      [b2, ["10.0.0.9"]],
    ]);
    // Only the key that got IPs has an entry, one per bucket.
    expect(ts.server.aggregator.store.ips.size).toBe(2);
  });
});

describe("Flow IPs limits and lifetime", () => {
  it("cap each set at 100 per key and bucket and count what they drop", async () => {
    const ts = await start();
    await ingest(ts, [withIps(b1, ips("10.0.0", 80), ips("10.1.0", 120)), withIps(b1, ips("10.0.0", 40, 70), [], b1 + 1)]);
    const res = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({});
    const f = res.flows[0]!.flow!;
    expect(f.sourceIps).toHaveLength(100);
    expect(f.destIps).toHaveLength(100);
    // source: 80, then .70–.109: 10 already held, 20 fit, 10 dropped; dest: 120 → 20 dropped
    expect(f.sourceIps).toContain("10.0.0.99");
    expect(f.sourceIps).not.toContain("10.0.0.100");
    expect(await metricValue(ts.registry, "tributary_flow_ips_dropped_total")).toBe(30);
  });

  it("leave with their bucket and survive a snapshot", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flow-ips-"));
    try {
      const file = path.join(dir, "snap.bin");
      const a = await start({ SNAPSHOT_PATH: file });
      await ingest(a, [withIps(b1, ["192.0.2.1"], ["198.51.100.7"])]);
      await a.close(); // writes the snapshot
      servers = [];
      const b = await start({ SNAPSHOT_PATH: file });
      const res = await createClient(Flows, createGrpcTransport({ baseUrl: b.baseUrl })).list({});
      expect(res.flows.map((r) => [r.flow!.sourceIps, r.flow!.destIps])).toEqual([[["192.0.2.1"], ["198.51.100.7"]]]);
      // Past the ring, the bucket and its IPs are gone.
      b.clock.advance(300 * W);
      b.server.aggregator.tick();
      expect(b.server.aggregator.store.ips.size).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Flow IPs in the CLI", () => {
  it("are in `tributary flows list -o json`", async () => {
    const ts = await start();
    await ingest(ts, [withIps(b1, ["10.0.0.2", "10.0.0.1"], ["10.1.0.1"]), wireUpdate(b1, { destName: "quiet-*" })]);
    const p = runCli(["flows", "list", "--addr", ts.baseUrl, "-o", "json"]);
    const { code } = await p.exited;
    expect(code, p.stderr()).toBe(0);
    const res = JSON.parse(p.stdout()) as { flows: { flow: { Key: { destName: string }; sourceIps?: string[]; destIps?: string[] } }[] };
    const api = res.flows.find((f) => f.flow.Key.destName === "api-*")!.flow;
    expect([api.sourceIps, api.destIps]).toEqual([["10.0.0.1", "10.0.0.2"], ["10.1.0.1"]]);
    // The CLI's JSON shows every field: a key whose agents sent no IPs has empty lists.
    const quiet = res.flows.find((f) => f.flow.Key.destName === "quiet-*")!.flow;
    expect([quiet.sourceIps, quiet.destIps]).toEqual([[], []]);
  });
});
