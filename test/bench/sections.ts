/**
 * The sections of BENCHMARKS.md that areas run on their own keep (cluster mode, history, resident memory), between
 * HTML comment markers, so that one area's run refreshes its figures without erasing the others'.
 */
import { table, type BenchRow } from "./report.js";

export const SECTION_AREAS = ["cluster", "history", "rss"] as const;
export type SectionArea = (typeof SECTION_AREAS)[number];

const TITLES: Record<SectionArea, string> = {
  cluster: "Cluster mode: Felix-shaped load (issue 14)",
  history: "History in PostgreSQL (issue 16)",
  rss: "Resident memory of full rings, measured alone (issue 15)",
};

const HOW: Record<SectionArea, string> = {
  cluster:
    "How: `test/bench/cluster-bench.ts`. Every server is its own process (the floor, the floor writing its receipts 1 ms late, the single process, ingest and query replicas, one nats-server with JetStream on disk); server CPU comes from /proc/<pid>/stat (user + system) over the load, so CPU per flow is the server's and not the load generator's. The load is 1000 lock-step agents from one process (`felix-load.ts`), each on its own 127.0.x.y address with one HTTP/2 connection, sending one FlowUpdate and waiting for its receipt before the next, as Felix does. CPU per flow is compared twice: at each server's own saturation (unpaced), and with the floor, the deferred floor and the ingest replica all paced to the same 10 000 flows/s, read over the load's measured window with user and system time apart (a lock-step server's CPU per flow falls as its throughput rises, so at saturation the faster floor is measured at an advantage). The receipt latency the log adds is shown twice at paced rates: as the difference of the agents' p99 with and without the log, and as the p99 of the ingest replica's own tributary_cluster_receipt_wait_seconds (a batch's first update to the log's acknowledgement) over the load's measured window. Apply rate and snapshot start use a log written straight to a stream: 100 000 keys reported once per bucket over 4 buckets by 1 000 nodes (400 000 updates, 500 per entry; the first bucket brings the keys). The apply rate counts the entries applied between the first and the last sample of the applied-sequence metric (every 50 ms) past the first bucket; the replica reads the log on its own thread.",
  history:
    "How: `test/bench/history-bench.ts`. The bench starts its own PostgreSQL 15 cluster (initdb in a temporary folder, fsync off), writes buckets through the real writer (one transaction each: DELETE + COPY + the rollups of closed periods), then generates query data at 20 000 keys per bucket in SQL into the periods the ranges read and times the reader through the method modules; 11 timed runs per query (p99 = the slowest).",
  rss:
    "How: `npm run bench -- rss` in a process of its own (in a full `npm run bench` the same rows carry the earlier areas' memory, see their \"before building\" figure). `benchRss` in `test/bench/store-bench.ts` builds a store with every key in every one of 240 buckets (the whole hour full: the worst case for a key count), forces GC and reads the process RSS; the store's own heap + typed arrays are in the note.",
};

const start = (a: SectionArea) => `<!-- ${a}-bench:start -->`;
const end = (a: SectionArea) => `<!-- ${a}-bench:end -->`;

export function renderSection(area: SectionArea, rows: readonly BenchRow[], stamp: string): string {
  return [start(area), `## ${TITLES[area]}`, "", stamp, "", table(rows), "", HOW[area], end(area)].join("\n");
}

/** The section as it stands in `doc`, markers included, or undefined. */
export function sectionOf(doc: string, area: SectionArea): string | undefined {
  const a = doc.indexOf(start(area));
  const b = doc.indexOf(end(area));
  return a >= 0 && b > a ? doc.slice(a, b + end(area).length) : undefined;
}

/** `doc` with the section replaced, or inserted before the explanation when it has none yet. */
export function withSection(doc: string, area: SectionArea, section: string): string {
  const old = sectionOf(doc, area);
  if (old !== undefined) return doc.replace(old, () => section);
  const at = doc.indexOf("## How each figure is measured");
  return at >= 0 ? `${doc.slice(0, at)}${section}\n\n${doc.slice(at)}` : `${doc}\n${section}\n`;
}
