import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { InvalidArgumentError, Option, type Command } from "commander";
import { collectDefaultMetrics, Registry } from "prom-client";
import { createLogger, LOG_LEVELS } from "../observability/logger.js";
import { systemClock } from "./sim/clock.js";
import { DEFAULT_SIM_CONFIG, resolveSimConfig } from "./sim/config.js";
import { stopSignal } from "../cli/stop-signal.js";

function parseInteger(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new InvalidArgumentError(`${name}: must be an integer >= ${min} and <= ${max}, got "${text}"`);
    }
    return Number(text);
  };
}

function parseProbability(name: string) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === "" || !(v >= 0 && v <= 1)) throw new InvalidArgumentError(`${name}: must be a number in [0, 1], got "${text}"`);
    return v;
  };
}

function parseRange(name: string) {
  return (text: string): [number, number] => {
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(text);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || hi < lo) throw new InvalidArgumentError(`${name}: must be N or MIN-MAX, got "${text}"`);
    return [lo, hi];
  };
}

interface SimOptions {
  port: number;
  host: string;
  capacity: number;
  seed?: number;
  tlsCert?: string;
  tlsKey?: string;
  tickMs: number;
  packetsPerSec: [number, number];
  bytesPerPacket: [number, number];
  finRate: number;
  rstRate: number;
  idleRate: number;
  defaultCacheTimeout: number;
  maxCacheTimeout: number;
  maxPageSize: number;
  tupleDedup: boolean;
  metricsPort?: number;
  logLevel: (typeof LOG_LEVELS)[number];
  graceMs: number;
}

/**
 * Adds `tributary offload-sim`: the OpenOffload device emulator (docs/offload-sim.md). It serves
 * both SessionTable dialects on one port until SIGINT or SIGTERM, then closes gracefully. On start
 * it logs one JSON line with the bound port (`--port 0` picks a free one).
 */
export function registerOffloadSimCommand(program: Command): void {
  const d = DEFAULT_SIM_CONFIG;
  const t = d.traffic;
  program
    .command("offload-sim")
    .description("emulate an OpenOffload device: opi_api.security.firewall.v1 and openoffload.v1 SessionTable on one port")
    .requiredOption("--port <p>", "RPC port (gRPC, gRPC-web, Connect); 0 = any free port", parseInteger("--port", 0, 65535))
    .option("--host <h>", "address to bind; empty = every interface", "")
    .option("--capacity <n>", "session table capacity (closed, undrained sessions included)", parseInteger("--capacity", 0), d.capacity)
    .option("--seed <s>", "seed of the traffic model (default: random, logged on start)", parseInteger("--seed", 0, 0xffffffff))
    .option("--tls-cert <f>", "PEM certificate: serve TLS (needs --tls-key)")
    .option("--tls-key <f>", "PEM private key for --tls-cert")
    .option("--tick-ms <ms>", "traffic model step", parseInteger("--tick-ms", 1), t.tickMs)
    .option("--packets-per-sec <min-max>", "per-session packet rate range, each direction", parseRange("--packets-per-sec"), [...t.packetsPerSec])
    .option("--bytes-per-packet <min-max>", "packet size range", parseRange("--bytes-per-packet"), [...t.bytesPerPacket])
    .option("--fin-rate <p>", "chance per second that a TCP session closes with FIN", parseProbability("--fin-rate"), t.finPerSec)
    .option("--rst-rate <p>", "chance per second that a TCP session is reset", parseProbability("--rst-rate"), t.rstPerSec)
    .option("--idle-rate <p>", "chance per second that a session goes idle and later ages out", parseProbability("--idle-rate"), t.idlePerSec)
    .option("--default-cache-timeout <s>", "idle timeout for cachetimeout = 0", parseInteger("--default-cache-timeout", 1), d.defaultCacheTimeoutSec)
    .option("--max-cache-timeout <s>", "larger cachetimeout values are clamped to this", parseInteger("--max-cache-timeout", 1), d.maxCacheTimeoutSec)
    .option("--max-page-size <n>", "page cap of the OPI GetAllSession", parseInteger("--max-page-size", 1), d.maxPageSize)
    .option("--no-tuple-dedup", "accept sessions whose 7-tuple is already in the table (ids must still differ)")
    .option("--metrics-port <p>", "also serve /metrics on this plain-HTTP port", parseInteger("--metrics-port", 0, 65535))
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .option("--grace-ms <ms>", "how long in-flight calls may run after SIGTERM", parseInteger("--grace-ms", 0), 5000)
    .action(async (opts: SimOptions) => {
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw new InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
      }
      const seed = opts.seed ?? randomInt(0, 0xffffffff);
      const config = resolveSimConfig({
        capacity: opts.capacity,
        seed,
        defaultCacheTimeoutSec: opts.defaultCacheTimeout,
        maxCacheTimeoutSec: opts.maxCacheTimeout,
        maxPageSize: opts.maxPageSize,
        tupleDedup: opts.tupleDedup,
        traffic: {
          tickMs: opts.tickMs,
          packetsPerSec: opts.packetsPerSec,
          bytesPerPacket: opts.bytesPerPacket,
          finPerSec: opts.finRate,
          rstPerSec: opts.rstRate,
          idlePerSec: opts.idleRate,
        },
      });
      const tls = opts.tlsCert && opts.tlsKey ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey) } : undefined;
      const log = createLogger(opts.logLevel);
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      // Imported when the command runs, so other commands do not load the emulator (issue 15).
      const { createOffloadSimServer } = await import("./sim/server.js");
      const server = createOffloadSimServer(
        config,
        { host: opts.host, port: opts.port, tls, autoTick: true, metricsPort: opts.metricsPort },
        { clock: systemClock, registry, log },
      );
      const stopped = stopSignal();
      const { rpc, metrics } = await server.listen();
      log.info(
        { module: "offload-sim", port: rpc.port, address: rpc.address, tls: tls !== undefined, metricsPort: metrics?.port, capacity: config.capacity, seed },
        "offload emulator listening",
      );
      const signal = await stopped;
      log.info({ module: "offload-sim", signal }, "offload emulator stopping");
      await server.close(opts.graceMs);
      log.info({ module: "offload-sim" }, "offload emulator stopped");
      await new Promise<void>((resolve) => log.flush(() => resolve()));
    });
}
