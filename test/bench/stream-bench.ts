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

/** One measured run: ingest rate and what the consumers saw. */
interface StreamRun {
  rate: number;
  opened: number;
  received: number;
  errors: number;
  seconds: number;
}

async function runOnce(o: IngestOptions, streams: number, filtered: boolean | null): Promise<StreamRun> {
  const env = { AGGREGATION_WINDOW: `${W}s`, INGEST_FAST_LANE: "true" };
  const t = await startTributary(env);
  const clients = filtered === null ? null : await openStreams(t.port, streams, filtered);
  if (clients) {
    const deadline = Date.now() + 30_000;
    while ((await openCount(t)) < streams && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
  const opened = clients ? await openCount(t) : 0;
  const r = await runLoad(t.port, o, W, true);
  let got = { received: 0, errors: 0 };
  if (clients) {
    // Let the last rollover fan out before counting.
    await new Promise((res) => setTimeout(res, 2 * W * 1000));
    got = await clients.stop();
  }
  await t.server.close();
  return { rate: r.receipts / r.elapsed, opened, received: got.received, errors: got.errors, seconds: r.elapsed + 2 * W };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs without streams, with 100 filtered and with 100 unfiltered streams, interleaved over
 * `rounds` rounds, and compares medians: a single 10 s run swings by ±20 % on this shared 2-core
 * machine, more than the 10 % being measured.
 */
export async function benchStreams(o: IngestOptions, streams: number, rounds = 3): Promise<BenchRow[]> {
  const runs: Record<"none" | "filtered" | "unfiltered", StreamRun[]> = { none: [], filtered: [], unfiltered: [] };
  for (let i = 0; i < rounds; i++) {
    runs.none.push(await runOnce(o, streams, null));
    runs.filtered.push(await runOnce(o, streams, true));
    runs.unfiltered.push(await runOnce(o, streams, false));
  }
  const baseRate = median(runs.none.map((r) => r.rate));
  const rows: BenchRow[] = [
    {
      name: "streams/ingest with 0 streams",
      value: baseRate,
      unit: "flows/s",
      note: `median of ${rounds} interleaved runs (${runs.none.map((r) => Math.round(r.rate)).join(", ")}); W = ${W} s, live start times, ${o.keys} keys, ${o.streams} node streams`,
    },
  ];
  for (const filtered of [true, false]) {
    const rs = filtered ? runs.filtered : runs.unfiltered;
    const rate = median(rs.map((r) => r.rate));
    const cost = 1 - rate / baseRate;
    const what = filtered ? "each filtered to one of 20 dest namespaces" : "unfiltered (every key to every stream)";
    const last = rs[rs.length - 1]!;
    rows.push({
      name: `streams/ingest with ${streams} streams, ${filtered ? "filtered" : "unfiltered"}`,
      value: rate,
      unit: "flows/s",
      note: `median of ${rounds} (${rs.map((r) => Math.round(r.rate)).join(", ")}); ${last.opened} streams open, ${what}; last run: ${last.received} results received (${Math.round(last.received / last.seconds)}/s), ${last.errors} stream errors`,
    });
    rows.push({
      name: `streams/throughput cost of ${streams} ${filtered ? "filtered" : "unfiltered"} streams`,
      value: 100 * cost,
      unit: "%",
      target: `≤ 10 %: ${cost <= 0.1 ? "met" : "NOT met"}`,
      note: `ingest ${(rate / baseRate).toFixed(3)}× the runs without streams (medians)`,
    });
  }
  return rows;
}
