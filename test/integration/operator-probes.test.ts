/**
 * Issue 13 item 4: the commands the tigera operator renders for Goldmane, run as exact command
 * lines against a live Tributary — `/health -ready|-live` (operator v1.38–v1.42),
 * `calico health --port=… --type=readiness|liveness` and `calico component goldmane` (v1.43+) —
 * plus `tributary health`. The entry (src/entry/calico.cts) is compiled to CommonJS and laid out
 * as in the image: `<tmp>/health`, `<tmp>/usr/bin/calico`, and `<tmp>/app/dist/src/main.js`
 * (here a one-line module loading the sources, since the tests do not build dist/).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { buildSync } from "esbuild";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServeConfig } from "../../src/config/serve-config.js";
import { systemClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTributaryServer, type TributaryServer } from "../../src/server/app.js";
import { ROOT, runCli } from "../helpers/spawn.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-operator-"));
const HEALTH = path.join(tmp, "health");
const CALICO = path.join(tmp, "usr/bin/calico");

beforeAll(() => {
  const out = buildSync({ entryPoints: [path.join(ROOT, "src/entry/calico.cts")], format: "cjs", platform: "node", target: "node20", write: false });
  const js = out.outputFiles[0]!.text;
  expect(js.startsWith("#!/usr/bin/env node\n"), "the entry starts with a shebang (exec probes run it directly)").toBe(true);
  fs.mkdirSync(path.dirname(CALICO), { recursive: true });
  for (const p of [HEALTH, CALICO]) {
    fs.writeFileSync(p, js);
    fs.chmodSync(p, 0o755);
  }
  // Where /usr/bin/calico finds the server in the image (/app/dist/src/main.js).
  fs.mkdirSync(path.join(tmp, "app/dist/src"), { recursive: true });
  fs.writeFileSync(path.join(tmp, "app/dist/src/main.js"), `import ${JSON.stringify(pathToFileURL(path.join(ROOT, "src/main.ts")).href)};\n`);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * Runs one command line as the kubelet's exec probe would: the file itself, no shell. Async, so
 * an in-process server keeps answering while the probe runs.
 */
function exec(file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("close", (code) => {
      clearTimeout(kill);
      resolve({ code, out, ms: performance.now() - t0 });
    });
  });
}

/** The four probe command lines of both operator generations against a health port. */
async function probeAll(healthPort: number) {
  const env = { HEALTH_PORT: String(healthPort) };
  const [healthReady, healthLive, calicoReadiness, calicoLiveness] = await Promise.all([
    exec(HEALTH, ["-ready"], env),
    exec(HEALTH, ["-live"], env),
    exec(CALICO, ["health", `--port=${healthPort}`, "--type=readiness"]),
    exec(CALICO, ["health", `--port=${healthPort}`, "--type=liveness"]),
  ]);
  return { healthReady: healthReady.code, healthLive: healthLive.code, calicoReadiness: calicoReadiness.code, calicoLiveness: calicoLiveness.code };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function startServer(env: Record<string, string>): TributaryServer {
  const config = loadServeConfig({ HOST: "127.0.0.1", PORT: "0", HEALTH_HOST: "127.0.0.1", HEALTH_PORT: "0", SHUTDOWN_TIMEOUT: "5s", ...env });
  return createTributaryServer(config, { log: silentLogger(), clock: systemClock, registry: new Registry() });
}

describe("operator probes against a live server", () => {
  it("ready and live: every probe command line exits 0", async () => {
    const server = startServer({});
    const { healthPort } = await server.listen();
    try {
      expect(await probeAll(healthPort!)).toEqual({ healthReady: 0, healthLive: 0, calicoReadiness: 0, calicoLiveness: 0 });
      // cobra/pflag spellings and the default --type (readiness).
      expect((await exec(CALICO, ["health", "--port", String(healthPort), "--type", "liveness", "--host=127.0.0.1", "--timeout=2s"])).code).toBe(0);
      expect((await exec(CALICO, ["health", `--port=${healthPort}`])).code).toBe(0);
      // Go flag spellings of Goldmane's probe.
      expect((await exec(HEALTH, ["--ready"], { HEALTH_PORT: String(healthPort) })).code).toBe(0);
      expect((await exec(HEALTH, ["-live=true"], { HEALTH_PORT: String(healthPort) })).code).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("starting (RPC port not bound yet): live but not ready", async () => {
    // The RPC port is taken, so listen() fails after the health port is up: the server stays
    // "starting" (never ready), which is what the probes see before a start completes.
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const healthPort = await freePort();
    const server = startServer({ PORT: String((blocker.address() as net.AddressInfo).port), HEALTH_PORT: String(healthPort) });
    try {
      await expect(server.listen()).rejects.toThrow(/EADDRINUSE/);
      expect(await probeAll(healthPort)).toEqual({ healthReady: 1, healthLive: 0, calicoReadiness: 1, calicoLiveness: 0 });
    } finally {
      await server.close().catch(() => undefined);
      blocker.close();
    }
  });

  it("dead (nothing listening) and hung (accepts, never answers): not healthy, within the probe timeout", async () => {
    const port = await freePort();
    expect(await probeAll(port)).toEqual({ healthReady: 1, healthLive: 1, calicoReadiness: 1, calicoLiveness: 1 });
    const hung = net.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    const hp = (hung.address() as net.AddressInfo).port;
    try {
      const h = await exec(HEALTH, ["-live"], { HEALTH_PORT: String(hp) });
      expect(h.code).toBe(1);
      // 1 s probe timeout plus node's start-up: well inside a kubelet period.
      expect(h.ms).toBeLessThan(8_000);
      expect(h.out).toMatch(/within 1000 ms/);
      const c = await exec(CALICO, ["health", `--port=${hp}`, "--type=liveness", "--timeout=300ms"]);
      expect(c.code).toBe(1);
      expect(c.out).toMatch(/within 300 ms/);
    } finally {
      hung.close();
    }
  });

  it("usage errors exit as upstream's binaries do", async () => {
    expect((await exec(HEALTH, [])).code).toBe(1); // "One of --ready or --live must be set"
    const bad = await exec(HEALTH, ["-bogus"]);
    expect(bad.code).toBe(2); // Go's flag package
    expect(bad.out).toMatch(/flag provided but not defined: -bogus/);
    expect((await exec(HEALTH, ["-ready"], { HEALTH_ENABLED: "false", HEALTH_PORT: "1" })).code).toBe(0); // health off: nothing to check
    const noPort = await exec(CALICO, ["health", "--type=readiness"]);
    expect(noPort.code).toBe(1);
    expect(noPort.out).toMatch(/required flag\(s\) "port" not set/);
    const badType = await exec(CALICO, ["health", "--port=8080", "--type=startup"]);
    expect(badType.code).toBe(1);
    expect(badType.out).toMatch(/Invalid check type "startup"/);
    expect((await exec(CALICO, ["health", "--port=8080", "--bogus"])).code).toBe(1);
    const other = await exec(CALICO, ["component", "whisker-backend"]);
    expect(other.code).toBe(1);
    expect(other.out).toMatch(/only "goldmane"/);
    expect((await exec(CALICO, ["version"])).code).toBe(0);
  });
});

describe("calico component goldmane (a real process)", () => {
  /** `/usr/bin/calico component goldmane` with the operator's kind of environment. */
  function component(env: Record<string, string>, args: string[] = []) {
    const child = spawn(CALICO, ["component", "goldmane", ...args], {
      cwd: ROOT,
      // The stand-in /app/dist/src/main.js imports TypeScript sources: tsx loads them.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_OPTIONS: "--import tsx", HOST: "127.0.0.1", HEALTH_HOST: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, exited, output: () => out };
  }

  it("serves like tributary serve; not ready while starting, not ready after SIGTERM while draining, dead after exit", { timeout: 90_000 }, async () => {
    const [port, healthPort] = [await freePort(), await freePort()];
    const p = component({ PORT: String(port), HEALTH_PORT: String(healthPort), SHUTDOWN_TIMEOUT: "20s", LOG_LEVEL: "info", AGGREGATION_WINDOW: "1s" });
    try {
      // While the process starts, the readiness probe fails; then it passes.
      const seen: number[] = [];
      for (let i = 0; i < 150 && seen[seen.length - 1] !== 0; i++) {
        seen.push((await exec(CALICO, ["health", `--port=${healthPort}`, "--type=readiness", "--timeout=1s"])).code ?? -1);
        if (seen[seen.length - 1] !== 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen[0], `first probe, right after exec; output:\n${p.output()}`).toBe(1);
      expect(seen[seen.length - 1], `readiness once started; output:\n${p.output()}`).toBe(0);
      expect(await probeAll(healthPort)).toEqual({ healthReady: 0, healthLive: 0, calicoReadiness: 0, calicoLiveness: 0 });
      // It is the real server, with the environment it was given (PORT, AGGREGATION_WINDOW).
      expect(p.output()).toMatch(/"windowSec":1,/);
      const list = await fetch(`http://127.0.0.1:${port}/goldmane.Flows/List`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(list.status).toBe(200);

      // A request in flight (half a body) keeps the drain going after SIGTERM.
      const held = net.connect(port, "127.0.0.1");
      await new Promise<void>((r) => held.once("connect", () => r()));
      held.write("POST /goldmane.Flows/List HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
      await new Promise((r) => setTimeout(r, 200));
      p.child.kill("SIGTERM");
      let draining = await probeAll(healthPort);
      for (let i = 0; i < 50 && draining.healthReady !== 1; i++) {
        await new Promise((r) => setTimeout(r, 100));
        draining = await probeAll(healthPort);
      }
      expect(draining, `probes while draining after SIGTERM; output:\n${p.output()}`).toEqual({ healthReady: 1, healthLive: 0, calicoReadiness: 1, calicoLiveness: 0 });
      held.destroy();
      expect(await p.exited, p.output()).toBe(0);
      expect(await probeAll(healthPort)).toEqual({ healthReady: 1, healthLive: 1, calicoReadiness: 1, calicoLiveness: 1 });
    } finally {
      p.child.kill("SIGKILL");
    }
  });

  it("refuses a bad environment exactly as serve does (exit 2 naming the variable)", { timeout: 60_000 }, async () => {
    const p = component({ PORT: "0", HEALTH_PORT: "0", AGGREGATION_WINDOW: "1500ms" });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/AGGREGATION_WINDOW/);
  });
});

describe("tributary health", () => {
  it("exits 0 against a ready server, 1 against a dead port, 2 for a bad HEALTH_PORT", { timeout: 60_000 }, async () => {
    const server = startServer({});
    const { healthPort } = await server.listen();
    try {
      const ok = runCli(["health", "--type", "liveness"], { HEALTH_PORT: String(healthPort), HEALTH_HOST: "127.0.0.1" });
      expect((await ok.exited).code, ok.stderr()).toBe(0);
      expect(ok.stdout()).toMatch(/liveness ok/);
    } finally {
      await server.close();
    }
    const dead = runCli(["health", "--port", String(healthPort)], {});
    expect((await dead.exited).code).toBe(1);
    const bad = runCli(["health"], { HEALTH_PORT: "http" });
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toMatch(/HEALTH_PORT/);
  });
});
