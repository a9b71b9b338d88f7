/**
 * Rollover duration and memory per key / per key-bucket (goldmane-spec §9.2
 * `BenchmarkMainLoopRollover`, §9.3 "memory per flow"), in process with a manual clock.
 */
import { percentile, type BenchRow } from "./report.js";
import { blockRing, encodedKeys, type SteadyRing } from "./ring.js";

/**
 * Times `advanceTo` for one W (through `tick()`, which also runs the observers such as
 * PolicyStats) on a steady ring, `rollovers` times, ingesting the next bucket's flows between
 * rollovers as a live cluster would.
 */
export function benchRollover(ring: SteadyRing, rollovers: number, label: string): BenchRow[] {
  const ms: number[] = [];
  let flows = 0;
  for (let i = 0; i < rollovers + 5; i++) {
    flows += ring.fill();
    ring.toNextBucket();
    const t0 = performance.now();
    ring.agg.tick();
    const dt = performance.now() - t0;
    if (i >= 5) ms.push(dt);
  }
  const s = ring.agg.store;
  const p50 = percentile(ms, 50);
  const p99 = percentile(ms, 99);
  const shape = `${s.keyCount} keys, ${s.series.size} key-buckets, ${Math.round(flows / (rollovers + 5))} flows ingested per bucket`;
  return [
    {
      name: `rollover/${label} p99`,
      value: p99,
      unit: "ms",
      target: `≤ 20 ms: ${p99 <= 20 ? "met" : "NOT met"}`,
      note: `p50 ${p50.toFixed(2)} ms, max ${Math.max(...ms).toFixed(2)} ms over ${rollovers} rollovers; ${shape}`,
    },
  ];
}

/** Bytes held by the JS heap and by ArrayBuffers (typed-array columns live outside the heap). */
function heapBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc!;
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Heap per key and per key-bucket: the store of n keys × 1 bucket and of n keys × 20 buckets,
 * each measured after a full GC against the same baseline (the encoded updates, which are not the
 * store's), then solved for the two figures: H1 = n·(k + b), H20 = n·(k + 20·b).
 */
export function benchHeap(keys: number): BenchRow[] {
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
    return [{ name: "heap/skipped", value: 0, unit: "", note: "run node with --expose-gc (npm run bench does)" }];
  }
  const updates = encodedKeys(keys);
  const base = heapBytes();
  let agg: ReturnType<typeof blockRing> | undefined = blockRing(updates, 1);
  const one = heapBytes() - base;
  const k1 = agg.store.keyCount;
  const r1 = agg.store.series.size;
  agg = undefined;
  heapBytes();
  const base2 = heapBytes();
  agg = blockRing(updates, 20);
  const twenty = heapBytes() - base2;
  const k20 = agg.store.keyCount;
  const r20 = agg.store.series.size;
  agg = undefined;
  const perBucket = (twenty - one) / (r20 - r1);
  const perKey = (one - perBucket * r1) / k1;
  const note = `${k1} keys × 1 bucket: ${(one / 2 ** 20).toFixed(1)} MiB; ${k20} keys × 20 buckets (${r20} windows): ${(twenty / 2 ** 20).toFixed(1)} MiB; heapUsed + arrayBuffers after GC`;
  return [
    { name: "heap/bytes per key", value: perKey, unit: "B", target: `≤ 1024: ${perKey <= 1024 ? "met" : "NOT met"}`, note },
    { name: "heap/bytes per key-bucket", value: perBucket, unit: "B", target: `≤ 80: ${perBucket <= 80 ? "met" : "NOT met"}` },
  ];
}

/**
 * Resident memory of a full ring: `keys` keys each with a window in every one of `buckets`
 * buckets, ingested bucket by bucket with the clock moving (so dedup claims expire after the
 * replay horizon as in a running server). RSS after a GC, and the heap + typed arrays held.
 */
export function benchRss(keys: number, buckets: number, label: string): BenchRow[] {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return [{ name: "rss/skipped", value: 0, unit: "", note: "run node with --expose-gc (npm run bench does)" }];
  const updates = encodedKeys(keys);
  const before = heapBytes();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const agg = blockRing(updates, buckets);
  const buildS = (performance.now() - t0) / 1000;
  const held = heapBytes() - before;
  const rss = process.memoryUsage().rss;
  const s = agg.store;
  return [
    {
      name: `rss/${label} RSS`,
      value: rss / 2 ** 20,
      unit: "MiB",
      note: `whole process after GC (${(rss0 / 2 ** 20).toFixed(0)} MiB before building, with the encoded updates); store: ${(held / 2 ** 20).toFixed(0)} MiB heap + typed arrays; ${s.keyCount} keys, ${s.series.size} key-buckets; built in ${buildS.toFixed(0)} s`,
    },
  ];
}
