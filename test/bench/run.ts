/**
 * `npm run bench`: measures Tributary on this machine and writes BENCHMARKS.md. Benchmarks never
 * assert timings; they print a table and compare ratios within one run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXPLANATION } from "./explanation.js";
import { benchIngest } from "./ingest-bench.js";
import { benchQueriesOn, buildSteadyRing } from "./query-bench.js";
import { table, type BenchRow } from "./report.js";
import { benchHeap, benchRollover, benchRss } from "./store-bench.js";
import { benchStreams } from "./stream-bench.js";
import { benchCluster } from "./cluster-bench.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const only = process.argv.slice(2);
const want = (area: string) => only.length === 0 || only.includes(area);

const rows: BenchRow[] = [];
const t0 = Date.now();
const loadBefore = os.loadavg().map((x) => x.toFixed(2)).join(" ");
const load = { streams: 4, keys: 5000, seconds: 10, inFlight: 4096 };
if (want("ingest")) rows.push(...(await benchIngest(load)));
if (want("streams")) rows.push(...(await benchStreams(load, 100)));
if (want("query") || want("rollover")) {
  if (want("query")) {
    const small = buildSteadyRing(10_000);
    rows.push({ name: "query/10k ring build", value: small.buildMs / 1000, unit: "s", note: "in process, manual clock, one period of the steady state" });
    rows.push(...(await benchQueriesOn(small, "10k", 100, false)));
  }
  const big = buildSteadyRing(100_000);
  rows.push({ name: "query/100k ring build", value: big.buildMs / 1000, unit: "s", note: "in process, manual clock, one period of the steady state" });
  if (want("query")) rows.push(...(await benchQueriesOn(big, "100k", 50, true)));
  // After the queries, on the same ring: rollovers keep it in steady state.
  if (want("rollover")) rows.push(...benchRollover(big, 60, "100k keys"));
}
if (want("heap")) rows.push(...benchHeap(100_000));
// The PostgreSQL history (issue 16): only when asked for (`npm run bench -- history`): it starts
// its own cluster and writes gigabytes.
if (only.includes("history")) {
  const { benchHistory } = await import("./history-bench.js");
  rows.push(...(await benchHistory()));
}
// Resident memory of full rings (issue 15): 240 buckets of history, every key in every bucket.
if (want("rss")) for (const n of [10_000, 100_000]) rows.push(...benchRss(n, 240, `${n / 1000}k keys × 240 buckets`));
// Felix-shaped load, embedded and cluster mode (issue 14 item 7); needs nats-server.
const clusterRows = want("cluster") ? await benchCluster() : [];
rows.push(...clusterRows);

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const header = [
  "# Benchmarks",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}.`,
  `Command: \`npm run bench${only.length ? ` -- ${only.join(" ")}` : ""}\` (took ${((Date.now() - t0) / 1000).toFixed(0)} s). Figures vary between runs on this shared VM; compare ratios within one run.`,
  "",
];
const out = header.join("\n") + "\n" + table(rows) + "\n" + EXPLANATION;
process.stdout.write(out);
if (only.length === 0) fs.writeFileSync(path.join(ROOT, "BENCHMARKS.md"), out);
else if (only.length === 1 && only[0] === "cluster") {
  // `npm run bench -- cluster` refreshes its own section of BENCHMARKS.md.
  const file = path.join(ROOT, "BENCHMARKS.md");
  const START = "<!-- cluster-bench:start -->";
  const END = "<!-- cluster-bench:end -->";
  const section = [
    START,
    "## Cluster mode: Felix-shaped load (issue 14)",
    "",
    `Measured ${new Date().toISOString()} with \`flock /tmp/tributary-bench.lock npm run bench -- cluster\` (${((Date.now() - t0) / 1000).toFixed(0)} s); nproc ${os.cpus().length}; load average before/after ${loadBefore} / ${os.loadavg().map((x) => x.toFixed(2)).join(" ")} (the machine is shared with other work: compare ratios within this run).`,
    "",
    table(clusterRows),
    "",
    "How: see `test/bench/cluster-bench.ts` (servers as separate processes; CPU from /proc/<pid>/stat; 1000 agents from one load process on distinct 127.0.x.y addresses).",
    END,
  ].join("\n");
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const at = old.indexOf(START);
  const next = at >= 0 ? old.slice(0, at) + section + old.slice(old.indexOf(END) + END.length) : old.replace("## How each figure is measured", `${section}\n\n## How each figure is measured`);
  fs.writeFileSync(file, next);
}

