/**
 * `npm run bench`: measures Tributary on this machine and writes BENCHMARKS.md. Benchmarks never
 * assert timings; they print a table and compare ratios within one run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { benchIngest } from "./ingest-bench.js";
import { table, type BenchRow } from "./report.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const only = process.argv.slice(2);
const want = (area: string) => only.length === 0 || only.includes(area);

const rows: BenchRow[] = [];
const t0 = Date.now();
if (want("ingest")) rows.push(...(await benchIngest({ streams: 4, keys: 5000, seconds: 10, inFlight: 4096 })));

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const header = [
  "# Benchmarks",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}.`,
  `Command: \`npm run bench${only.length ? ` -- ${only.join(" ")}` : ""}\` (took ${((Date.now() - t0) / 1000).toFixed(0)} s). Figures vary between runs on this shared VM; compare ratios within one run.`,
  "",
];
const out = header.join("\n") + table(rows) + "\n";
process.stdout.write(out);
if (only.length === 0) fs.writeFileSync(path.join(ROOT, "BENCHMARKS.md"), out);
