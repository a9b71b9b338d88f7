import { Registry } from "prom-client";
import { loadServeConfig, type ServeConfig } from "../../src/config/serve-config.js";
import { manualClock, type ManualClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTributaryServer, type TributaryServer } from "../../src/server/app.js";

/** A real server on an ephemeral loopback port, with time moved by hand. */
export interface TestServer {
  server: TributaryServer;
  clock: ManualClock;
  config: ServeConfig;
  port: number;
  baseUrl: string;
  registry: Registry;
  close(): Promise<void>;
}

/** Starts the real service (all three protocols on one port) on 127.0.0.1:0. */
export async function startTestServer(env: Record<string, string> = {}, startSec = 1_700_000_000): Promise<TestServer> {
  const config = loadServeConfig({ HOST: "127.0.0.1", PORT: "0", HEALTH_ENABLED: "false", SHUTDOWN_TIMEOUT: "2s", ...env });
  const clock = manualClock(startSec);
  const registry = new Registry();
  const server = createTributaryServer(config, { log: silentLogger(), clock, registry });
  const { port } = await server.listen();
  return {
    server,
    clock,
    config,
    port,
    registry,
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => server.close(),
  };
}

/** Reads a counter or gauge value (optionally one labelled series) from a registry. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}
