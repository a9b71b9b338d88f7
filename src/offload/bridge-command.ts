import { readFileSync } from "node:fs";
import { InvalidArgumentError, Option, type Command } from "commander";
import { collectDefaultMetrics, Registry } from "prom-client";
import { parseDurationMs } from "../config/parse.js";
import { systemClock } from "../model/time.js";
import { createLogger, LOG_LEVELS } from "../observability/logger.js";
import { BRIDGE_DEFAULTS, parseDeviceSpec, type BridgeConfig } from "./bridge/config.js";
import { stopSignal } from "../cli/stop-signal.js";

interface BridgeOptions {
  collector: string;
  device: string[];
  dialect: "opi" | "v1";
  node: string;
  interval: string;
  exclusive: boolean;
  kubeconfig?: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  tapHost: string;
  replayHorizon: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

function wholeSeconds(flag: string, text: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch {
    throw new InvalidArgumentError(`${flag}: must be a duration such as 15s, got "${text}"`);
  }
  if (ms % 1000 !== 0 || ms < 1000) throw new InvalidArgumentError(`${flag}: must be whole seconds >= 1s, got "${text}"`);
  return ms / 1000;
}

/**
 * Adds `tributary offload-bridge` (docs/offload-bridge.md): polls OpenOffload devices and sends
 * their sessions as Flows to a Tributary (or Goldmane) FlowCollector until SIGINT or SIGTERM.
 */
export function registerOffloadBridgeCommand(program: Command): void {
  program
    .command("offload-bridge")
    .description("poll OpenOffload devices and send their sessions as Flows to a FlowCollector")
    .requiredOption("--collector <url>", "FlowCollector base URL (http:// = h2c, https:// = TLS)")
    .requiredOption("--device <url>", "device SessionTable URL, repeatable; options in the query: node, dialect, exclusive, ipv4, tap", (v: string, prev: string[] = []) => [...prev, v])
    .addOption(new Option("--dialect <d>", "default device dialect").choices(["opi", "v1"]).default("opi"))
    .requiredOption("--node <name>", "node name the devices' Flows are reported by")
    .option("--interval <duration>", "poll interval = Flow width, aligned to multiples of it", "15s")
    .option("--exclusive", "drain getClosedSessions (v1): only when nothing else reads the device's close records", false)
    .option("--kubeconfig <path>", "kubeconfig for pod/service/node identities (default: in-cluster, else none)")
    .option("--ca <file>", "PEM CA bundle to verify the collector")
    .option("--cert <file>", "PEM client certificate for the collector (mTLS)")
    .option("--key <file>", "PEM private key of --cert")
    .option("--token <token>", "session token for the collector (base64, sent as tributary-session-bin)")
    .option("--tap-host <h>", "address the AddSession taps bind to", "")
    .option("--replay-horizon <duration>", "how far back Flows are replayed after a reconnect", "5m")
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .action(async (opts: BridgeOptions) => {
      if ((opts.cert === undefined) !== (opts.key === undefined)) throw new InvalidArgumentError("--cert and --key: give both or neither");
      const intervalSec = wholeSeconds("--interval", opts.interval);
      let devices;
      try {
        devices = opts.device.map((d) => parseDeviceSpec(d, { node: opts.node, dialect: opts.dialect, exclusive: opts.exclusive }));
      } catch (e) {
        throw new InvalidArgumentError(`--device: ${(e as Error).message}`);
      }
      const config: BridgeConfig = {
        ...BRIDGE_DEFAULTS,
        devices,
        collectorUrl: opts.collector.replace(/\/$/, ""),
        collectorAuth: {
          ca: opts.ca ? readFileSync(opts.ca) : undefined,
          cert: opts.cert ? readFileSync(opts.cert) : undefined,
          key: opts.key ? readFileSync(opts.key) : undefined,
          token: opts.token,
        },
        intervalSec,
        replayHorizonSec: wholeSeconds("--replay-horizon", opts.replayHorizon),
        kubeconfig: opts.kubeconfig ?? "",
        tapHost: opts.tapHost,
      };
      const log = createLogger(opts.logLevel);
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      // Imported when the command runs, not when the CLI starts: `serve` must not load the
      // Kubernetes client the bridge uses (issue 15).
      const { createOffloadBridge } = await import("./bridge/bridge.js");
      const bridge = createOffloadBridge(config, { log, registry, clock: systemClock });
      const stopped = stopSignal();
      const { taps } = await bridge.start();
      log.info({ module: "offload-bridge", taps: taps.map((t) => ({ device: t.device, port: t.address.port })) }, "offload bridge running");
      const signal = await stopped;
      log.info({ module: "offload-bridge", signal }, "offload bridge stopping");
      await bridge.flush(5000);
      await bridge.stop();
      await new Promise<void>((resolve) => log.flush(() => resolve()));
    });
}
