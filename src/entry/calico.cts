#!/usr/bin/env node
/**
 * The operator-facing entry of the image (issue 13 item 4, docs/deploy.md "Calico operator"):
 * one small CommonJS file, installed by the Dockerfile as `/health` and as `/usr/bin/calico`, so
 * that the Deployments the tigera operator renders for Goldmane run Tributary unchanged:
 *
 * - `/health -ready` | `/health -live` — operator v1.38–v1.42 exec probes (Goldmane's
 *   `goldmane/cmd/health`, Go `flag` syntax: `-ready`, `--ready`, `-ready=true`). Reads
 *   `HEALTH_ENABLED` (false → exit 0 without probing, as upstream) and `HEALTH_PORT` (8080).
 * - `calico health --port=8080 --type=readiness|liveness [--host=localhost] [--timeout=5s]` —
 *   operator v1.43+ probes (calico's `cmd/calico/health.go`): exit 0 for HTTP 2xx/3xx.
 * - `calico component goldmane` — operator v1.43+ command: runs `tributary serve` in this same
 *   process (PID 1 keeps receiving SIGTERM), with the same environment.
 * - `calico version`.
 *
 * Exit codes follow upstream: 0 healthy, 1 unhealthy / unreachable / bad usage (`calico` is a
 * cobra program: every error exits 1), 2 for a flag Go's `flag` package does not know (`/health`).
 * Probes are plain HTTP GETs of `/readiness` or `/liveness` with a short timeout: a kubelet exec
 * probe has 1 s by default, so this file loads nothing but `node:http` (no TypeScript runtime, no
 * dependencies) and starts in tens of milliseconds.
 */
import http = require("node:http");
import path = require("node:path");
import fs = require("node:fs");
import url = require("node:url");

/** What a probe found: `ok` and, when not, why (for stderr). */
interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

/** The two checks, named as the health port's paths (upstream's HealthAggregator). */
type CheckType = "readiness" | "liveness";

/**
 * GETs `http://host:port/<type>`; healthy when the status is in `[okMin, okMax]`. Never rejects;
 * a refused connection, a timeout or an early close are "not healthy".
 */
function probeHealth(host: string, port: number, type: CheckType, timeoutMs: number, okMin = 200, okMax = 399): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    // An IPv6 literal needs brackets in the host header but not in `hostname`.
    const req = http.get({ hostname: host.replace(/^\[|\]$/g, ""), port, path: `/${type}`, agent: false, headers: { connection: "close" } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish(status >= okMin && status <= okMax ? { ok: true, detail: `status ${status}` } : { ok: false, detail: `Health check failed with status code: ${status}` });
    });
    req.on("error", (err) => finish({ ok: false, detail: `Health check failed: ${err.message}` }));
    const timer = setTimeout(() => finish({ ok: false, detail: `Health check failed: no answer from ${host}:${port} within ${timeoutMs} ms` }), timeoutMs);
  });
}

/** Go's time.ParseDuration for the `--timeout` flag ("5s", "500ms", "1m"); NaN when invalid. */
function parseGoDurationMs(raw: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (raw === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < raw.length) {
    re.lastIndex = pos;
    const m = re.exec(raw);
    if (!m) return Number.NaN;
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return raw === "" ? Number.NaN : total;
}

/** The environment's boolean as Go's strconv.ParseBool reads it (envconfig); undefined if unset. */
function envBool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return undefined;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

interface Io {
  readonly env: NodeJS.ProcessEnv;
  out(s: string): void;
  err(s: string): void;
}

/** Where `HEALTH_HOST` points, as a probe target: a wildcard (or unset) means this machine. */
function probeHost(env: NodeJS.ProcessEnv): string {
  const h = (env.HEALTH_HOST ?? "").trim();
  return h === "" || h === "0.0.0.0" || h === "::" || h === "[::]" ? "localhost" : h;
}

/**
 * `/health -ready|-live` (Goldmane's health binary). Returns the exit code. The probe waits at
 * most 1 s, a kubelet exec probe's default timeout (upstream's has none).
 */
async function runHealth(args: readonly string[], io: Io): Promise<number> {
  let ready = false;
  let live = false;
  for (const a of args) {
    // Go's flag package: one or two dashes, optional =value for booleans.
    const m = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(a);
    if (m && (m[1] === "ready" || m[1] === "live")) {
      const v = m[2] === undefined ? true : envBool(m[2]);
      if (v === undefined) {
        io.err(`invalid boolean value "${m[2]}" for -${m[1]}: parse error\n`);
        return 2;
      }
      if (m[1] === "ready") ready = v;
      else live = v;
      continue;
    }
    if (m && (m[1] === "h" || m[1] === "help")) {
      io.err("Usage of /health:\n  -live\n    \tCheck if the server is alive\n  -ready\n    \tCheck if the server is ready\n");
      return 0;
    }
    if (a === "--") break;
    if (!a.startsWith("-")) break; // Go's flag stops at the first non-flag argument.
    io.err(`flag provided but not defined: ${a.replace(/=.*$/, "")}\nUsage of /health:\n  -live\n    \tCheck if the server is alive\n  -ready\n    \tCheck if the server is ready\n`);
    return 2;
  }
  // Upstream: health disabled → nothing to check, healthy.
  if (envBool(io.env.HEALTH_ENABLED) === false) return 0;
  const type: CheckType | null = ready ? "readiness" : live ? "liveness" : null;
  if (type === null) {
    io.out("One of --ready or --live must be set\n");
    return 1;
  }
  const rawPort = (io.env.HEALTH_PORT ?? "").trim();
  const port = rawPort === "" ? 8080 : Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    io.out(`HEALTH_PORT: must be a port number 1-65535, got "${rawPort}"\n`);
    return 1;
  }
  // Goldmane's probe accepts exactly 200.
  const r = await probeHealth(probeHost(io.env), port, type, 1000, 200, 200);
  if (!r.ok) io.out(`${r.detail}\n`);
  return r.ok ? 0 : 1;
}

/** pflag-style long options: `--name=value`, `--name value`; returns null and reports on error. */
function parseLongFlags(args: readonly string[], known: readonly string[], io: Io): Map<string, string> | null {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--([a-z][\w-]*)(?:=(.*))?$/.exec(a);
    if (!m) {
      io.err(`Error: unknown command "${a}" for "calico health"\n`);
      return null;
    }
    if (m[1] === "help") {
      out.set("help", "true");
      continue;
    }
    if (!known.includes(m[1]!)) {
      io.err(`Error: unknown flag: --${m[1]}\n`);
      return null;
    }
    let v = m[2];
    if (v === undefined) {
      v = args[++i];
      if (v === undefined) {
        io.err(`Error: flag needs an argument: --${m[1]}\n`);
        return null;
      }
    }
    out.set(m[1]!, v);
  }
  return out;
}

const CALICO_HELP = `Tributary's stand-in for the calico binary (docs/deploy.md).

Usage:
  calico component goldmane   run Tributary (tributary serve) with the same environment
  calico health --port=PORT [--type=readiness|liveness] [--host=localhost] [--timeout=5s]
  calico version
`;

/** `calico health …` (cmd/calico/health.go). */
async function runCalicoHealth(args: readonly string[], io: Io): Promise<number> {
  const flags = parseLongFlags(args, ["host", "port", "type", "timeout"], io);
  if (!flags) return 1;
  if (flags.has("help")) {
    io.out("Usage:\n  calico health [flags]\n\nFlags:\n      --host string         Host to check (default \"localhost\")\n      --port int            Port to check\n      --timeout duration    Request timeout (default 5s)\n      --type string         Check type: readiness or liveness (default \"readiness\")\n");
    return 0;
  }
  const rawPort = flags.get("port");
  if (rawPort === undefined) {
    io.err('Error: required flag(s) "port" not set\n');
    return 1;
  }
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port < 1 || port > 65535) {
    io.err(`Error: invalid argument "${rawPort}" for "--port" flag: must be a port number 1-65535\n`);
    return 1;
  }
  const type = flags.get("type") ?? "readiness";
  if (type !== "readiness" && type !== "liveness") {
    io.err(`Invalid check type "${type}", expected "readiness" or "liveness"\n`);
    return 1;
  }
  const rawTimeout = flags.get("timeout") ?? "5s";
  const timeoutMs = parseGoDurationMs(rawTimeout);
  if (!Number.isFinite(timeoutMs)) {
    io.err(`Error: invalid argument "${rawTimeout}" for "--timeout" flag: time: invalid duration "${rawTimeout}"\n`);
    return 1;
  }
  const r = await probeHealth(flags.get("host") ?? "localhost", port, type, timeoutMs > 0 ? timeoutMs : 2_147_483_647);
  if (!r.ok) io.err(`${r.detail}\n`);
  return r.ok ? 0 : 1;
}

/**
 * Finds Tributary's ESM entry: beside this file when it runs from `dist/src/entry/`, or at
 * `/app/dist/src/main.js` when installed as `/usr/bin/calico` in the image.
 */
function findMain(): string | null {
  for (const p of [path.resolve(__dirname, "../main.js"), path.resolve(__dirname, "../../app/dist/src/main.js")]) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** `calico component goldmane [flags]`: `tributary serve [flags]` in this process. */
async function runComponent(args: readonly string[], io: Io): Promise<number | "running"> {
  if (args[0] !== "goldmane") {
    io.err(
      args[0] === undefined
        ? 'Error: "calico component" needs a component; this image runs only "goldmane"\n'
        : `Error: unknown command "${args[0]}" for "calico component": this image runs only "goldmane" (Tributary)\n`,
    );
    return 1;
  }
  const main = findMain();
  if (main === null) {
    io.err(`Error: Tributary's dist/src/main.js not found next to ${__dirname}\n`);
    return 1;
  }
  // commander reads process.argv: the server sees exactly `tributary serve …`.
  process.argv = [process.argv[0]!, main, "serve", ...args.slice(1)];
  await import(url.pathToFileURL(main).href);
  return "running";
}

/** `calico …` (cmd/calico/main.go, the subset the operator uses). */
async function runCalico(args: readonly string[], io: Io): Promise<number | "running"> {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case "health":
      return runCalicoHealth(rest, io);
    case "component":
      return runComponent(rest, io);
    case "version":
      io.out(`tributary (drop-in for calico component goldmane)\n`);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.out(CALICO_HELP);
      return 0;
    default:
      io.err(`Error: unknown command "${cmd}" for "calico"\n${CALICO_HELP}`);
      return 1;
  }
}

/** Dispatch by the name this file was invoked as: `health` → Goldmane's probe, else `calico`. */
async function main(argv: readonly string[]): Promise<void> {
  const io: Io = { env: process.env, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
  const invokedAs = path.basename(argv[1] ?? "");
  const code = /^health(\.c?js)?$/.test(invokedAs) ? await runHealth(argv.slice(2), io) : await runCalico(argv.slice(2), io);
  if (code !== "running") process.exitCode = code;
}

if (require.main === module) void main(process.argv);

export = { probeHealth, parseGoDurationMs, runHealth, runCalico };
