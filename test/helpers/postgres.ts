import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** A PostgreSQL cluster created by a test (initdb in a temporary folder), stopped by PID. */
export interface TestPostgres {
  /** postgres:// URL of the `postgres` database, over TCP on 127.0.0.1. */
  url: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM, then SIGKILL) and keeps the data folder. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data (after {@link stop}). */
  start(): Promise<void>;
  /** Stops it and removes the folder. */
  destroy(): Promise<void>;
  /** Runs SQL through psql and returns its unaligned output. */
  psql(sql: string, db?: string): string;
}

/** Debian keeps the server binaries outside PATH, one folder per major version. */
export function postgresBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin/initdb"))) : [];
  if (versions.length === 0) throw new Error("PostgreSQL server binaries not found (run test/tools/setup.sh)");
  return path.join(base, versions.sort((a, b) => Number(b) - Number(a))[0]!, "bin");
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const asRoot = process.getuid?.() === 0;
/** Runs a PostgreSQL binary as user postgres when the tests run as root (initdb refuses root). */
function pgCmd(bin: string, args: string[]): [string, string[]] {
  return asRoot ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

/**
 * Creates and starts a throw-away cluster: `initdb` in a temporary folder owned by postgres,
 * `postgres` listening on a free loopback port with its socket in that folder, trust auth on
 * loopback only. Tuned for tests (no fsync).
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-pg-"));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, "data");
  const sock = path.join(dir, "sock");
  fs.mkdirSync(sock);
  if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  const [c, a] = pgCmd(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
  execFileSync(c, a, { stdio: "pipe" });
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const [cmd, args] = pgCmd(path.join(bin, "postgres"), [
      "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", sock,
      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50", "-c", "shared_buffers=64MB",
    ]);
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    child = p;
    let log = "";
    p.stderr!.setEncoding("utf8").on("data", (s: string) => {
      log += s;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (log.includes("ready to accept connections")) return;
      if (p.exitCode !== null) throw new Error(`postgres exited: ${log}`);
      if (Date.now() > deadline) throw new Error(`postgres did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const p = child;
    child = undefined;
    if (!p) return;
    // Stopped by PID: the postmaster's own (runuser does not always pass signals on).
    const pidFile = path.join(data, "postmaster.pid");
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
    if (pid > 0) {
      process.kill(pid, "SIGINT"); // "fast" shutdown
      const deadline = Date.now() + 15_000;
      while (alive(pid)) {
        if (Date.now() > deadline) process.kill(pid, "SIGKILL");
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (p.exitCode === null) await new Promise<void>((r) => p.once("exit", () => r()));
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    start,
    stop,
    async destroy() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    psql(sql, db = "postgres") {
      const [cmd, args] = pgCmd(path.join(bin, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", db, "-At", "-c", sql]);
      return execFileSync(cmd, args, { encoding: "utf8" }).trim();
    },
  };
}
