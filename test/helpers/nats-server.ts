import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/**
 * Real `nats-server` processes (Debian's 2.9.x, installed by test/tools/setup.sh) with JetStream,
 * started by the tests on free loopback ports in temporary folders and stopped by PID. A server
 * keeps its port and store folder across {@link NatsServer.kill} + {@link NatsServer.restart},
 * so a test can take the log away and give it back.
 */
export interface NatsServer {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  pid(): number | undefined;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the process stays, its sockets stop answering. */
  pause(): void;
  resume(): void;
  /** Starts it again on the same port and store folder; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGTERM, wait, then remove the folder. */
  stop(): Promise<void>;
  log(): string;
}

/** The binary: PATH first, then Debian's place. */
export function natsServerBin(): string {
  for (const p of ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"]) if (fs.existsSync(p)) return p;
  const r = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  throw new Error("nats-server is not installed: run `npm run test:setup` (test/tools/setup.sh) as root");
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server exited early:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Spec {
  name: string;
  port: number;
  clusterPort?: number;
  routes?: number[];
  dir: string;
  /** More command-line options (e.g. TLS). */
  extraArgs?: string[];
}

function startProcess(spec: Spec) {
  const args = ["-a", "127.0.0.1", "-p", String(spec.port), "-js", "-sd", path.join(spec.dir, "js"), "-n", spec.name, ...(spec.extraArgs ?? [])];
  if (spec.clusterPort !== undefined) {
    args.push("--cluster_name", "tributary-test", "-cluster", `nats://127.0.0.1:${spec.clusterPort}`);
    const routes = (spec.routes ?? []).map((p) => `nats://127.0.0.1:${p}`).join(",");
    if (routes) args.push("-routes", routes);
  }
  const child = spawn(natsServerBin(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out = (out + c).slice(-20_000)));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (out = (out + c).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { child, exited, log: () => out };
}

function serverHandle(spec: Spec, cleanupDir: boolean): { handle: NatsServer; started: Promise<void> } {
  let proc = startProcess(spec);
  const handle: NatsServer = {
    name: spec.name,
    port: spec.port,
    url: `nats://127.0.0.1:${spec.port}`,
    storeDir: spec.dir,
    pid: () => proc.child.pid,
    async kill() {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        process.kill(proc.child.pid!, "SIGKILL");
        await proc.exited;
      }
    },
    pause() {
      process.kill(proc.child.pid!, "SIGSTOP");
    },
    resume() {
      process.kill(proc.child.pid!, "SIGCONT");
    },
    async restart() {
      await handle.kill();
      proc = startProcess(spec);
      await waitForPort(spec.port, proc.child, proc.log);
    },
    async stop() {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        try {
          process.kill(proc.child.pid!, "SIGCONT");
          process.kill(proc.child.pid!, "SIGTERM");
        } catch {
          /* already gone */
        }
        const t = setTimeout(() => {
          try {
            process.kill(proc.child.pid!, "SIGKILL");
          } catch {
            /* gone */
          }
        }, 5000);
        await proc.exited;
        clearTimeout(t);
      }
      if (cleanupDir) fs.rmSync(spec.dir, { recursive: true, force: true });
    },
    log: () => proc.log(),
  };
  return { handle, started: waitForPort(spec.port, proc.child, proc.log) };
}

/** One JetStream server on a free loopback port; `extraArgs` go to nats-server (e.g. `--tls …`). */
export async function startNatsServer(name = "n1", extraArgs: string[] = []): Promise<NatsServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-nats-"));
  const { handle, started } = serverHandle({ name, port: await freePort(), dir, extraArgs }, true);
  await started;
  return handle;
}

/** A NATS cluster of `n` JetStream servers routed to each other (a stream may have n replicas). */
export async function startNatsCluster(n = 3): Promise<{ servers: NatsServer[]; urls: string; stop(): Promise<void> }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-nats-cluster-"));
  const ports: number[] = [];
  const clusterPorts: number[] = [];
  for (let i = 0; i < n; i++) {
    ports.push(await freePort());
    clusterPorts.push(await freePort());
  }
  const made = ports.map((port, i) =>
    serverHandle({ name: `n${i + 1}`, port, clusterPort: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i), dir: path.join(root, `n${i + 1}`) }, false),
  );
  await Promise.all(made.map((m) => m.started));
  const servers = made.map((m) => m.handle);
  return {
    servers,
    urls: servers.map((s) => s.url).join(","),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
