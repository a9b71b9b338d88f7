/**
 * `tributary offload-sim` as a process: flags, the one JSON start line with the bound port
 * (`--port 0`), real calls in both dialects, TLS and metrics flags, and a graceful exit on SIGTERM
 * and SIGINT.
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SessionTable as V1SessionTable } from "../../src/gen/openoffload/v1/openoffload_pb.js";
import { SessionTable as OpiSessionTable } from "../../src/gen/opi_api/security/firewall/v1/openoffload_pb.js";
import { ipv4ToWire } from "../../src/offload/index.js";

const ROOT = join(import.meta.dirname, "../..");
const children: ChildProcessWithoutNullStreams[] = [];

interface Started {
  child: ChildProcessWithoutNullStreams;
  lines: Array<Record<string, unknown>>;
  start: Record<string, unknown>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Runs `src/main.ts offload-sim …` and resolves at its start line. */
function runSim(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "offload-sim", ...args], { cwd: ROOT, stdio: "pipe" });
  children.push(child);
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
  const lines: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const rec = JSON.parse(line) as Record<string, unknown>;
      lines.push(rec);
      if (rec.msg === "offload emulator listening") resolve({ child, lines, start: rec, exited });
    });
    void exited.then((e) => reject(new Error(`offload-sim exited early (${e.code}): ${e.stderr}`)));
  });
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

async function* stream<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

describe("tributary offload-sim", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "offload-sim-cli-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("logs one start line with the bound port, serves both dialects, honours --capacity and exits 0 on SIGTERM", async () => {
    const sim = await runSim(["--port", "0", "--host", "127.0.0.1", "--capacity", "3", "--seed", "99"]);
    expect(sim.lines).toHaveLength(1);
    expect(sim.start).toMatchObject({ level: 30, module: "offload-sim", tls: false, capacity: 3, seed: 99 });
    const port = sim.start.port as number;
    expect(port).toBeGreaterThan(0);

    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
    const v1 = createClient(V1SessionTable, transport);
    const opi = createClient(OpiSessionTable, transport);
    const base = { sourceIp: ipv4ToWire("10.0.0.1"), destinationIp: ipv4ToWire("10.0.0.2"), destinationPort: 80, protocolId: 6 };
    const added = await v1.addSession(stream([1, 2].map((i) => ({ ...base, sessionId: BigInt(i), sourcePort: i }))));
    expect(added.responseError).toEqual([]);
    const full = await v1.addSession(stream([3, 4].map((i) => ({ ...base, sessionId: BigInt(i), sourcePort: i }))));
    expect(full.responseError.map((e) => e.errorStatus)).toEqual([2, 2]);
    expect((await opi.getSession({ sessionId: 2n })).sessionid?.value).toBe("2");

    sim.child.kill("SIGTERM");
    const exit = await sim.exited;
    expect(exit.code).toBe(0);
    expect(sim.lines.map((l) => l.msg)).toEqual(["offload emulator listening", "sessions rejected", "offload emulator stopping", "offload emulator stopped"]);
    expect(sim.lines[1]).toMatchObject({ dialect: "v1", reason: "table_full", failed: 2 });
    expect(sim.lines[2]).toMatchObject({ signal: "SIGTERM" });
  });

  it("serves TLS with --tls-cert/--tls-key and metrics on --metrics-port, and stops on SIGINT", async () => {
    const sim = await runSim(["--port", "0", "--host", "127.0.0.1", "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem"), "--metrics-port", "0", "--idle-rate", "0.5"]);
    expect(sim.start).toMatchObject({ tls: true });
    expect(typeof sim.start.seed).toBe("number");
    const opi = createClient(OpiSessionTable, createGrpcTransport({ baseUrl: `https://127.0.0.1:${sim.start.port as number}`, nodeOptions: { ca: readFileSync(join(dir, "cert.pem")) } }));
    expect((await opi.getAllSession({})).sessioninfo).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${sim.start.metricsPort as number}/metrics`)).text();
    expect(metrics).toMatch(/tributary_offload_sim_capacity_sessions 65536/);
    expect(metrics).toMatch(/process_cpu_user_seconds_total/);
    sim.child.kill("SIGINT");
    expect((await sim.exited).code).toBe(0);
  });

  it("rejects bad flags with a message naming the flag", () => {
    const run = (args: string[]) => {
      try {
        execFileSync(process.execPath, ["--import", "tsx", "src/main.ts", "offload-sim", ...args], { cwd: ROOT, stdio: "pipe" });
        return "";
      } catch (err) {
        expect((err as { status: number }).status).not.toBe(0);
        return String((err as { stderr: Buffer }).stderr);
      }
    };
    expect(run(["--port", "0", "--capacity", "-3"])).toMatch(/--capacity/);
    expect(run(["--port", "0", "--fin-rate", "2"])).toMatch(/--fin-rate/);
    expect(run(["--port", "0", "--tls-cert", "x.pem"])).toMatch(/--tls-cert and --tls-key/);
    expect(run([])).toMatch(/--port/);
  });
});
