/**
 * `npm run bench`: measures Tributary on this machine and writes BENCHMARKS.md. Benchmarks never
 * assert timings; they print a table and compare ratios within one run.
 */
import { spawnSync } from "node:child_process";
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
import { benchRest } from "./rest-bench.js";
import { SECTION_AREAS, renderSection, sectionOf, withSection, type SectionArea } from "./sections.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const only = process.argv.slice(2);
const want = (area: string) => only.length === 0 || only.includes(area);

const rows: BenchRow[] = [];
const t0 = Date.now();
const loadBefore = os.loadavg().map((x) => x.toFixed(2)).join(" ");
/** Set in a child run (see below): where it writes its rows instead of BENCHMARKS.md. */
const ROWS_FILE = process.env.BENCH_ROWS_FILE;
/**
 * A full run measures each area in a process of its own (the same script, the area as argument):
 * in one process the query area's p99s were the full GCs of a heap still holding the earlier
 * areas' garbage (unpaged List at 100k: p99 1.8 s in a full run against 0.4–0.6 s alone), and the
 * rss rows started from an RSS of gigabytes. A fresh process is what a server is.
 */
const CHILD_AREAS = [["ingest"], ["streams"], ["query", "rollover"], ["heap"], ["rss"], ["cluster"]];
let clusterRows: BenchRow[] = [];
if (only.length === 0 && ROWS_FILE === undefined) {
  const rowsFile = path.join(os.tmpdir(), `tributary-bench-rows-${process.pid}.json`);
  for (const args of CHILD_AREAS) {
    const r = spawnSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, ...args], { stdio: "inherit", env: { ...process.env, BENCH_ROWS_FILE: rowsFile } });
    if (r.status !== 0) throw new Error(`bench area ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
    // JSON has no NaN (an area that stopped reports one): null comes back as NaN.
    const got = (JSON.parse(fs.readFileSync(rowsFile, "utf8")) as BenchRow[]).map((x) => ({ ...x, value: x.value ?? Number.NaN }));
    fs.rmSync(rowsFile, { force: true });
    rows.push(...got);
    if (args[0] === "cluster") clusterRows = got;
  }
} else {
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
  if (want("rss")) {
    rows.push(...(await benchRest()));
    for (const n of [10_000, 100_000]) rows.push(...benchRss(n, 240, `${n / 1000}k keys × 240 buckets`));
  }
  // Felix-shaped load, embedded and cluster mode (issue 14 item 7); needs nats-server.
  clusterRows = want("cluster") ? await benchCluster() : [];
  rows.push(...clusterRows);
}
if (ROWS_FILE !== undefined) {
  fs.writeFileSync(ROWS_FILE, JSON.stringify(rows));
  process.exit(0);
}

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const tookSec = ((Date.now() - t0) / 1000).toFixed(0);
const loadAfter = os.loadavg().map((x) => x.toFixed(2)).join(" ");
const command = `npm run bench${only.length ? ` -- ${only.join(" ")}` : ""}`;
const machine = `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
const header = [
  "# Benchmarks",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}.`,
  `Command: \`${command}\` (took ${tookSec} s; load average before/after ${loadBefore} / ${loadAfter}). Figures vary between runs on this shared VM; compare ratios within one run.`,
  "",
];
const sectionRows: Partial<Record<SectionArea, BenchRow[]>> = {};
if (want("cluster")) sectionRows.cluster = clusterRows;
if (only.includes("history")) sectionRows.history = rows.filter((r) => r.name.startsWith("history/"));
if (only.length === 1 && only[0] === "rss") sectionRows.rss = rows.filter((r) => r.name.startsWith("rss/"));
const mainRows = rows.filter((r) => !r.name.startsWith("cluster/") && !r.name.startsWith("history/"));
process.stdout.write(header.join("\n") + "\n" + table(rows) + "\n");

// BENCHMARKS.md: a run of every area rewrites the main table and the cluster section; an area
// with a section of its own (cluster, history, rss) run alone rewrites only that section.
// Sections not measured in this run are kept as they were, with their own date and command.
const file = path.join(ROOT, "BENCHMARKS.md");
let doc = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
const stamp = `Measured ${new Date().toISOString()} on ${machine}; \`${command}\` (${tookSec} s); load average before/after ${loadBefore} / ${loadAfter}.`;
if (only.length === 0) {
  const kept = SECTION_AREAS.filter((a) => !sectionRows[a]).map((a) => sectionOf(doc, a)).filter((x): x is string => x !== undefined);
  doc = header.join("\n") + "\n" + table(mainRows) + "\n\n" + kept.join("\n\n") + (kept.length ? "\n\n" : "") + EXPLANATION;
}
const writesFile = only.length === 0 || only.every((a) => (SECTION_AREAS as readonly string[]).includes(a));
for (const area of SECTION_AREAS) {
  const r = sectionRows[area];
  if (r && writesFile) doc = withSection(doc, area, renderSection(area, r, stamp));
}
if (writesFile) fs.writeFileSync(file, doc);
