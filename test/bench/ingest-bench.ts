import { spawn } from "node:child_process";
import * as path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { Flows } from "../../src/gen/goldmane/api_pb.js";
import { loadServeConfig } from "../../src/config/serve-config.js";
import { systemClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTributaryServer } from "../../src/server/app.js";
import type { BenchRow } from "./report.js";
import { startDecodeOnlySink } from "./sink.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);

export interface IngestOptions {
  streams: number;
  keys: number;
  seconds: number;
  inFlight: number;
}

interface LoadResult {
  receipts: number;
  sent: number;
  elapsed: number;
}

/** Runs the load generator in its own process against `port`. */
export function runLoad(port: number, o: IngestOptions, windowSec: number, live = false): Promise<LoadResult> {
  const now = Math.floor(Date.now() / 1000);
  const startSec = Math.floor(now / windowSec) * windowSec - 4 * windowSec;
  const args = JSON.stringify({ port, streams: o.streams, keys: o.keys, seconds: o.seconds, inFlight: o.inFlight, startSec, windowSec, live });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "loadgen.ts"), args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`loadgen exited ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!) as LoadResult);
    });
  });
}

/** Starts Tributary in this process with the given fast-lane setting. */
export async function startTributary(env: Record<string, string>) {
  const config = loadServeConfig({ HOST: "127.0.0.1", PORT: "0", HEALTH_ENABLED: "false", MAX_UNIQUE_FLOWS: "2000000", ...env });
  const server = createTributaryServer(config, { log: silentLogger(), clock: systemClock, registry: new Registry() });
  const { port } = await server.listen();
  return { server, port, config };
}

/**
 * End-to-end ingest over gRPC: the real server (fast lane, and the Connect path for reference)
 * and a decode-only Connect sink, the same load against each. Afterwards List must account for
 * every receipted flow (each carries packets_in = 1).
 */
export async function benchIngest(o: IngestOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const W = 15;
  const rates: Record<string, number> = {};
  for (const [name, fastLane] of [
    ["fast lane", "true"],
    ["Connect path", "false"],
  ] as const) {
    const t = await startTributary({ INGEST_FAST_LANE: fastLane });
    const r = await runLoad(t.port, o, W);
    const rate = r.receipts / r.elapsed;
    rates[name] = rate;
    // Nothing lost: every receipted flow is in List (all landed in complete buckets).
    const list = await createClient(Flows, createGrpcTransport({ baseUrl: `http://127.0.0.1:${t.port}` })).list({});
    const packets = list.flows.reduce((a, f) => a + Number(f.flow!.packetsIn), 0);
    const ok = packets === r.receipts;
    rows.push({
      name: `ingest/tributary ${name}`,
      value: rate,
      unit: "flows/s",
      target: name === "fast lane" ? `≥ 100,000: ${rate >= 100_000 ? "met" : "NOT met"}` : undefined,
      note: `${r.receipts} receipted in ${r.elapsed.toFixed(1)} s over ${o.streams} streams; List accounts for ${packets} (${ok ? "nothing lost" : "MISMATCH"}); ${list.flows.length} keys`,
    });
    await t.server.close();
    if (!ok) throw new Error(`ingest check failed: receipted ${r.receipts}, List shows ${packets}`);
  }
  const sink = await startDecodeOnlySink();
  const s = await runLoad(sink.port, o, W);
  await sink.close();
  rates.sink = s.receipts / s.elapsed;
  rows.push({ name: "ingest/connect-node decode-only sink", value: rates.sink, unit: "flows/s", note: `${s.receipts} receipted in ${s.elapsed.toFixed(1)} s` });
  const ratio = rates["fast lane"]! / rates.sink;
  rows.push({ name: "ingest/ratio fast lane ÷ sink", value: ratio, unit: "×", target: `≥ 3: ${ratio >= 3 ? "met" : "NOT met"}` });
  return rows;
}
