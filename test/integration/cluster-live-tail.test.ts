import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

// A replica tails the log live: every entry must reach it promptly, not after a pull expires.
// The replica's reader once used nats.js consume() by max_bytes, which also caps a pull at 100
// messages; when the server ended a pull at the byte limit the client's accounting went stale and
// the tail stalled until the pull expired: 30–40 s behind the log (found by the cluster bench).
// The probe runs as a process of its own, as a replica does (inside the test runner's worker the
// stall did not show).
const PROBE = path.join(path.dirname(new URL(import.meta.url).pathname), "../helpers/log-tail-probe.ts");

describe("cluster log: a live tail keeps up with the log", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer("tail");
  }, 30_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it("delivers entries of a few KiB published for 8 s within a second of their publication", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", PROBE, nats.url, "8"], { timeout: 90_000 });
    const r = JSON.parse(stdout.trim().split("\n").pop()!) as { sent: number; read: number; maxLagMs: number; caughtUpMs: number };
    expect(r.read).toBe(r.sent);
    expect(r.maxLagMs).toBeLessThan(1000);
    expect(r.caughtUpMs).toBeLessThan(1000);
  }, 120_000);
});
