import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FlowCollector, Flows } from "../../src/gen/goldmane/api_pb.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

/** A port that was free a moment ago (PROMETHEUS_PORT=0 means "off", so tests pick one). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const T0 = 1_700_000_010;
let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.close();
});

describe("Prometheus metrics on PROMETHEUS_PORT", () => {
  it("exposes Goldmane's and Tributary's metrics after ingest", async () => {
    const port = await freePort();
    ts = await startTestServer({ PROMETHEUS_PORT: String(port) }, T0);
    const t = createGrpcTransport({ baseUrl: ts.baseUrl });
    async function* updates() {
      yield wireUpdate(T0 - 60);
      yield wireUpdate(T0 - 60); // a duplicate from the same node
      yield wireUpdate(T0 - 60, { destPort: 1n });
      yield wireUpdate(T0 - 99_999); // out of window
      yield { ...wireUpdate(T0 - 60), flow: undefined }; // malformed
    }
    for await (const _ of createClient(FlowCollector, t).connect(updates()));
    await createClient(Flows, t).list({});
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const body = await res.text();
    expect(sample(body, "goldmane_aggr_received_flows_total")).toBe(4);
    expect(sample(body, "goldmane_aggr_num_unique_flows")).toBe(2);
    expect(sample(body, "tributary_duplicate_flows_total")).toBe(1);
    expect(body).toMatch(/tributary_rejected_flows_total\{reason="out_of_window"\} 1/);
    expect(body).toMatch(/tributary_rejected_flows_total\{reason="missing_flow"\} 1/);
    expect(body).toMatch(/goldmane_collector_received_flows\{source="127\.0\.0\.1"\} 5/);
    expect(sample(body, "goldmane_collector_num_clients")).toBe(0);
    expect(body).toContain("goldmane_aggr_rollover_duration_ms");
    expect(body).toContain("goldmane_num_streams");
    expect(body).toContain("process_cpu_user_seconds_total");
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
