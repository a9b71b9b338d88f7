import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { FlowCollector, Flows } from "../../src/gen/goldmane/api_pb.js";
import { runCli } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";

describe("tributary serve (a real process)", () => {
  it("listens on PORT, reports ready on HEALTH_PORT, ingests, and exits 0 on SIGTERM", async () => {
    const p = runCli(["serve"], { PORT: "0", HEALTH_PORT: "0", HOST: "127.0.0.1", HEALTH_HOST: "127.0.0.1", AGGREGATION_WINDOW: "1s" });
    const started = await p.waitForLog((l) => l.msg === "serving gRPC, gRPC-web and Connect");
    const baseUrl = `http://127.0.0.1:${started.port as number}`;
    const health = `http://127.0.0.1:${started.healthPort as number}`;
    expect(started.windowSec).toBe(1);
    expect((await fetch(`${health}/liveness`)).status).toBe(200);
    expect((await fetch(`${health}/readiness`)).status).toBe(200);
    expect((await fetch(`${health}/nope`)).status).toBe(404);

    const t = createGrpcTransport({ baseUrl });
    const now = Math.floor(Date.now() / 1000);
    let receipts = 0;
    async function* updates() {
      yield wireUpdate(now - 30);
      yield wireUpdate(now - 31, { destPort: 1n });
    }
    for await (const _ of createClient(FlowCollector, t).connect(updates())) receipts++;
    expect(receipts).toBe(2);
    const list = await createClient(Flows, t).list({});
    expect(list.meta?.totalResults).toBe(2n);

    p.child.kill("SIGTERM");
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(p.stdout()).toContain('"msg":"stopped"');
  });

  it("flags override environment variables", async () => {
    const p = runCli(["serve", "--port", "0", "--health-enabled", "false", "--aggregation-window", "2s", "--history-buckets", "10"], {
      AGGREGATION_WINDOW: "5s",
      HOST: "127.0.0.1",
    });
    const started = await p.waitForLog((l) => l.msg === "serving gRPC, gRPC-web and Connect");
    expect(started.windowSec).toBe(2);
    expect(started.historyBuckets).toBe(10);
    expect(started.healthPort).toBeUndefined();
    p.child.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
  });

  it.each([
    ["AGGREGATION_WINDOW", "1500ms"],
    ["AGGREGATION_WINDOW", "0s"],
    ["PORT", "70000"],
    ["HEALTH_ENABLED", "maybe"],
    ["LOG_LEVEL", "loud"],
    ["MAX_UNIQUE_FLOWS", "-1"],
    ["HISTORY_BUCKETS", "abc"],
    ["REPLAY_HORIZON", "5 minutes"],
  ])("refuses to start when %s=%s, naming the variable", async (name, value) => {
    const p = runCli(["serve"], { PORT: "0", HEALTH_PORT: "0", [name]: value });
    const exit = await p.exited;
    expect(exit.code).not.toBe(0);
    expect(p.stderr()).toContain(name);
    expect(p.stderr()).toContain(value);
  });

  it("exits 2 naming the variable when a file checked while starting is unusable (emitter client certificate)", async () => {
    const p = runCli(["serve"], {
      PORT: "0",
      HEALTH_PORT: "0",
      HOST: "127.0.0.1",
      HEALTH_HOST: "127.0.0.1",
      PUSH_URL: "https://127.0.0.1:9/api/v1/flows/bulk",
      CLIENT_CERT_PATH: "/nonexistent/client.crt",
      CLIENT_KEY_PATH: "/nonexistent/client.key",
    });
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toMatch(/invalid configuration: CLIENT_CERT_PATH: cannot read \/nonexistent\/client\.crt/);
  });
});
