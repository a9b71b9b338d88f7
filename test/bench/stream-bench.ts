/**
 * Cost of Flows.Stream fan-out to ingest: the same live load (start times in the filling bucket)
 * against a fresh server with no streams, then with 100 subscriptions consuming in another
 * process. W is short so that rollovers, and with them fan-out, happen during the run.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import type { BenchRow } from "./report.js";
import { runLoad, startTributary, type IngestOptions } from "./ingest-bench.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const W = 2;

async function openStreams(port: number, streams: number, filtered: boolean) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "stream-clients.ts"), JSON.stringify({ port, streams, filtered })], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  return {
    async stop(): Promise<{ received: number; errors: number }> {
      child.kill("SIGTERM");
      await exited;
      const last = out.trim().split("\n").filter((l) => l.startsWith("{")).pop();
      return last ? (JSON.parse(last) as { received: number; errors: number }) : { received: Number.NaN, errors: Number.NaN };
    },
  };
}

/** Open subscriptions as the server's own gauge reports them. */
async function openCount(t: Awaited<ReturnType<typeof startTributary>>): Promise<number> {
  const m = await t.server.registry.getSingleMetric("goldmane_num_streams")?.get();
  return m?.values[0]?.value ?? 0;
}

export async function benchStreams(o: IngestOptions, streams: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const env = { AGGREGATION_WINDOW: `${W}s`, INGEST_FAST_LANE: "true" };
  const base = await startTributary(env);
  const b = await runLoad(base.port, o, W, true);
  await base.server.close();
  const baseRate = b.receipts / b.elapsed;
  rows.push({ name: "streams/ingest with 0 streams", value: baseRate, unit: "flows/s", note: `W = ${W} s, live start times, ${o.keys} keys, ${o.streams} node streams` });

  for (const filtered of [true, false]) {
    const t = await startTributary(env);
    const clients = await openStreams(t.port, streams, filtered);
    const deadline = Date.now() + 30_000;
    while ((await openCount(t)) < streams && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const opened = await openCount(t);
    const r = await runLoad(t.port, o, W, true);
    // Let the last rollover fan out before counting.
    await new Promise((res) => setTimeout(res, 2 * W * 1000));
    const got = await clients.stop();
    await t.server.close();
    const rate = r.receipts / r.elapsed;
    const ratio = rate / baseRate;
    const cost = 1 - ratio;
    const what = filtered ? "each filtered to one of 20 dest namespaces" : "unfiltered (every key to every stream)";
    rows.push({
      name: `streams/ingest with ${streams} streams, ${filtered ? "filtered" : "unfiltered"}`,
      value: rate,
      unit: "flows/s",
      note: `${opened} streams open, ${what}; ${got.received} results received (${Math.round(got.received / (r.elapsed + 2 * W))}/s), ${got.errors} stream errors`,
    });
    rows.push({
      name: `streams/throughput cost of ${streams} ${filtered ? "filtered" : "unfiltered"} streams`,
      value: 100 * cost,
      unit: "%",
      target: `≤ 10 %: ${cost <= 0.1 ? "met" : "NOT met"}`,
      note: `ingest ${ratio.toFixed(3)}× the run without streams`,
    });
  }
  return rows;
}
