import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCli } from "../helpers/spawn.js";

/**
 * Issue 15 item 1: `tributary serve` with default settings loads only what every deployment uses.
 * The Kubernetes client, the offload bridge and the offload emulator are imported when configured
 * (or when their command runs), not at start. A module hook logs every module the process loads.
 */
const HOOK = ["--import", path.join(ROOT, "test/helpers/module-log.mjs")];
const loaded = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("module-load "))
    .map((l) => l.slice("module-load ".length));

/** Modules a default `serve` must not load. */
const OPTIONAL = [/@kubernetes\/client-node/, /@nats-io\//, /node_modules\/pg\//, /src\/offload\/bridge\/bridge\.ts$/, /src\/kube\//, /src\/offload\/sim\/server\.ts$/];

describe("tributary serve at rest", () => {
  it("does not load the Kubernetes client, the offload bridge or the emulator with default settings", async () => {
    const p = runCli(["serve"], { PORT: "0", HEALTH_PORT: "0", HOST: "127.0.0.1", HEALTH_HOST: "127.0.0.1" }, HOOK);
    await p.waitForLog((l) => l.msg === "serving gRPC, gRPC-web and Connect", 60_000);
    p.child.kill("SIGTERM");
    expect((await p.exited).code).toBe(0);
    const mods = loaded(p.stderr());
    // The hook works: the server's own modules are listed.
    expect(mods.some((m) => m.endsWith("src/server/app.ts"))).toBe(true);
    for (const re of OPTIONAL) expect(mods.filter((m) => re.test(m))).toEqual([]);
  }, 90_000);

  it("with PUSH_URL but emitting paused by FILE_CONFIG_PATH (the operator's OSS setting), loads the emitter but not the Kubernetes client", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-at-rest-"));
    try {
      const file = path.join(dir, "config.json");
      fs.writeFileSync(file, JSON.stringify({ emitFlows: false }));
      const p = runCli(
        ["serve"],
        { PORT: "0", HEALTH_PORT: "0", HOST: "127.0.0.1", HEALTH_HOST: "127.0.0.1", PUSH_URL: "https://127.0.0.1:9/api/v1/flows/bulk", FILE_CONFIG_PATH: file, KUBECONFIG: file },
        HOOK,
      );
      await p.waitForLog((l) => l.msg === "serving gRPC, gRPC-web and Connect", 60_000);
      p.child.kill("SIGTERM");
      expect((await p.exited).code).toBe(0);
      const mods = loaded(p.stderr());
      expect(mods.some((m) => m.endsWith("src/emitter/emitter.ts"))).toBe(true);
      expect(mods.filter((m) => /@kubernetes\/client-node|src\/kube\/|src\/emitter\/configmap-state\.ts$/.test(m))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it("loads the emulator when its command runs (the hook sees lazily imported modules)", async () => {
    const p = runCli(["offload-sim", "--port", "0", "--host", "127.0.0.1"], {}, HOOK);
    await p.waitForLog((l) => typeof l.port === "number", 60_000);
    p.child.kill("SIGTERM");
    await p.exited;
    const mods = loaded(p.stderr());
    expect(mods.some((m) => /src\/offload\/sim\/server\.ts$/.test(m))).toBe(true);
    expect(mods.filter((m) => /@kubernetes\/client-node/.test(m))).toEqual([]);
  }, 90_000);
});
