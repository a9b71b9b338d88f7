import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FlowCollector, Flows, Statistics } from "../../src/gen/goldmane/api_pb.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

const T0 = 1_700_000_010;
let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.close();
  ts = undefined;
});

async function send(baseUrl: string, updates: ReturnType<typeof wireUpdate>[]) {
  async function* gen() {
    yield* updates;
  }
  let n = 0;
  for await (const _ of createClient(FlowCollector, createGrpcTransport({ baseUrl })).connect(gen())) n++;
  return n;
}

async function statsTotal(baseUrl: string): Promise<bigint> {
  let total = 0n;
  for await (const r of createClient(Statistics, createGrpcTransport({ baseUrl })).list({})) total += r.allowedIn.reduce((a, b) => a + b, 0n);
  return total;
}

describe("SNAPSHOT_PATH", () => {
  it("keeps the flow history, ids, statistics and dedup claims across a restart", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tributary-snap-")), "state", "flows.snap");
    // Both inside the replay horizon (5m30s): an agent replays only that far back.
    const batch = [wireUpdate(T0 - 300), wireUpdate(T0 - 60, { destPort: 1n }, { packetsIn: 5n })];
    ts = await startTestServer({ SNAPSHOT_PATH: file, SNAPSHOT_INTERVAL: "0" }, T0);
    expect(await send(ts.baseUrl, batch)).toBe(2);
    const before = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({});
    const statsBefore = await statsTotal(ts.baseUrl);
    await ts.close(); // writes the snapshot
    expect(fs.existsSync(file)).toBe(true);

    ts = await startTestServer({ SNAPSHOT_PATH: file, SNAPSHOT_INTERVAL: "0" }, T0 + 20);
    const flows = createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl }));
    const after = await flows.list({});
    expect(after.flows.map((f) => [f.id, f.flow!.packetsIn])).toEqual(before.flows.map((f) => [f.id, f.flow!.packetsIn]));
    expect(await statsTotal(ts.baseUrl)).toBe(statsBefore);
    // The agent replays after reconnecting: nothing counts twice.
    expect(await send(ts.baseUrl, batch)).toBe(2);
    const replayed = await flows.list({});
    expect(replayed.flows.map((f) => f.flow!.packetsIn)).toEqual(before.flows.map((f) => f.flow!.packetsIn));
  });

  it("starts empty, and moves the file aside, when the snapshot is unusable", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-snap-"));
    const file = path.join(dir, "flows.snap");
    fs.writeFileSync(file, "not a snapshot");
    ts = await startTestServer({ SNAPSHOT_PATH: file, SNAPSHOT_INTERVAL: "0" }, T0);
    const list = await createClient(Flows, createGrpcTransport({ baseUrl: ts.baseUrl })).list({});
    expect(list.flows).toHaveLength(0);
    expect(fs.readdirSync(dir).some((f) => f.startsWith("flows.snap.unusable-"))).toBe(true);
  });
});
