import { readFileSync } from "node:fs";
import type { Registry } from "prom-client";
import { ConfigError } from "../../config/parse.js";
import type { ServeConfig } from "../../config/serve-config.js";
import type { Logger } from "../../observability/logger.js";
import type { OffloadBridge } from "./bridge.js";
import { BRIDGE_DEFAULTS, parseDeviceSpec, type DeviceConfig } from "./config.js";

/** The bridge inside `serve`, created once the RPC port is bound. */
export interface ServeBridge {
  /** Starts the bridge against the local RPC port. */
  start(port: number): Promise<OffloadBridge>;
  stop(): Promise<void>;
}

/**
 * The offload bridge of `serve` (OFFLOAD_DEVICES), or undefined when no device is configured.
 * Settings are validated here, at construction, so a bad device spec stops start-up with the
 * variable's name. The bridge talks to the local aggregator over loopback gRPC like any node agent
 * (same ingest path, same dedup); with TLS on the RPC port it skips verifying its own server's
 * name and presents the server's own certificate as its client certificate when mTLS is on.
 */
export function createServeBridge(config: ServeConfig, deps: { log: Logger; registry: Registry; clock: { nowSec(): number } }): ServeBridge | undefined {
  if (config.offloadDevices.length === 0) return undefined;
  const intervalSec = config.offloadIntervalSec || config.windowSec;
  if (intervalSec % config.windowSec !== 0) {
    throw new ConfigError("OFFLOAD_INTERVAL", `must be a multiple of AGGREGATION_WINDOW (${config.windowSec}s), got ${intervalSec}s`);
  }
  let devices: DeviceConfig[];
  try {
    devices = config.offloadDevices.map((d) => parseDeviceSpec(d, { node: config.offloadNode, dialect: config.offloadDialect, exclusive: config.offloadExclusive }));
  } catch (e) {
    throw new ConfigError("OFFLOAD_DEVICES", (e as Error).message);
  }
  const tls = config.serverCertPath !== "";
  let bridge: OffloadBridge | undefined;
  return {
    async start(port) {
      const host = config.host === "" || config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host.includes(":") ? `[${config.host}]` : config.host;
      // Loaded only when OFFLOAD_DEVICES is set: the bridge pulls in the Kubernetes client
      // (~70 MB resident), which a plain `serve` never needs (issue 15, BENCHMARKS.md "at rest").
      const { createOffloadBridge } = await import("./bridge.js");
      bridge = createOffloadBridge(
        {
          ...BRIDGE_DEFAULTS,
          devices,
          collectorUrl: `${tls ? "https" : "http"}://${host}:${port}`,
          collectorAuth: tls
            ? {
                insecureSkipVerify: true,
                cert: config.caCertPath ? readFileSync(config.serverCertPath) : undefined,
                key: config.caCertPath ? readFileSync(config.serverKeyPath) : undefined,
              }
            : undefined,
          intervalSec,
          kubeconfig: config.kubeconfig,
        },
        deps,
      );
      await bridge.start();
      return bridge;
    },
    async stop() {
      await bridge?.flush(2000);
      await bridge?.stop();
    },
  };
}
