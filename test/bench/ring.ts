/**
 * Steady-state rings for the in-process benchmarks (query, rollover, heap), built with a manual
 * clock (STYLE.md §8): no timers, every rollover is a plain call, the same ring every run.
 */
import { Registry } from "prom-client";
import { createAggregator, type Aggregator } from "../../src/aggregator/aggregator.js";
import { aggregatorMetrics } from "../../src/aggregator/metrics.js";
import { manualClock, type ManualClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { patchableUpdate, patchVarint5, workloadKeys, type PatchableUpdate } from "./workload.js";

export const W = 15;
export const HISTORY = 240;
/** A W-aligned start time, so bucket indices are exact. */
export const T0 = 1_700_000_100 - (1_700_000_100 % W);

/** Pre-encoded updates of `n` workload keys (kept apart from the ring they feed). */
export function encodedKeys(n: number, seed = 11): PatchableUpdate[] {
  return workloadKeys(n, seed).map((k) => patchableUpdate(k));
}

export interface SteadyRing {
  readonly agg: Aggregator;
  readonly clock: ManualClock;
  /** Index of the filling bucket (bucket j starts at T0 + j·W). */
  bucket: number;
  /** Ingests every key active in the filling bucket (one emission per key). */
  fill(): number;
  /** Moves the clock to the next bucket boundary (the caller times `agg.tick()`). */
  toNextBucket(): void;
}

/**
 * A ring where key k is active for `active` consecutive buckets starting at bucket
 * `floor(k·P/n)` of every period of P = HISTORY + 2 + active buckets, so that at any time about n
 * keys are live, spread evenly over the hour, each with up to `active` windows, and keys expire
 * and come back (with new ids) as in a real cluster. `steady()` runs one whole period.
 */
export function steadyRing(updates: readonly PatchableUpdate[], active: number): SteadyRing & { steady(): void } {
  const n = updates.length;
  const P = HISTORY + 2 + active;
  const clock = manualClock(T0);
  const agg = createAggregator(
    { windowSec: W, historyBuckets: HISTORY, maxUniqueFlows: 10 * n + 1000, replayHorizonSec: 330 },
    { clock, log: silentLogger(), metrics: aggregatorMetrics(new Registry()) },
  );
  const startOf = (k: number) => Math.floor((k * P) / n);
  // Keys whose phase starts in (j−active, j] (mod P) are active in bucket j: a contiguous range.
  const firstWithPhase = (p: number) => Math.ceil((p * n) / P);
  const nodes = Array.from({ length: 50 }, (_, i) => `10.0.${i >> 4}.${i & 15}`);
  const ingestKey = (k: number, bStart: number) => {
    const u = updates[k]!;
    patchVarint5(u.bytes, u.startOffset, bStart + 1);
    patchVarint5(u.bytes, u.endOffset, bStart + W + 1);
    agg.ingestEncoded(u.bytes, 0, u.bytes.length, nodes[k % nodes.length]!);
  };
  const ring = {
    agg,
    clock,
    bucket: 0,
    fill(): number {
      const j = ring.bucket;
      const bStart = T0 + j * W;
      clock.set(bStart + 2);
      let count = 0;
      for (let d = 0; d < active; d++) {
        const phase = (((j - d) % P) + P) % P;
        const lo = firstWithPhase(phase);
        const hi = Math.min(n, firstWithPhase(phase + 1));
        for (let k = lo; k < hi; k++) {
          if (startOf(k) !== phase) continue;
          ingestKey(k, bStart);
          count++;
        }
      }
      return count;
    },
    toNextBucket(): void {
      ring.bucket++;
      clock.set(T0 + ring.bucket * W);
    },
    steady(): void {
      for (let i = 0; i < P; i++) {
        ring.fill();
        ring.toNextBucket();
        agg.tick();
      }
      ring.fill();
    },
  };
  return ring;
}

/**
 * A ring where all `n` keys are active in the same `buckets` consecutive buckets (for the heap
 * figures: exactly n keys and n·buckets windows).
 */
export function blockRing(updates: readonly PatchableUpdate[], buckets: number): Aggregator {
  const clock = manualClock(T0);
  const agg = createAggregator(
    { windowSec: W, historyBuckets: HISTORY, maxUniqueFlows: updates.length + 1000, replayHorizonSec: 330 },
    { clock, log: silentLogger(), metrics: aggregatorMetrics(new Registry()) },
  );
  for (let j = 0; j < buckets; j++) {
    const bStart = T0 + j * W;
    clock.set(bStart + 2);
    for (let k = 0; k < updates.length; k++) {
      const u = updates[k]!;
      patchVarint5(u.bytes, u.startOffset, bStart + 1);
      patchVarint5(u.bytes, u.endOffset, bStart + W + 1);
      agg.ingestEncoded(u.bytes, 0, u.bytes.length, `10.0.0.${k % 50}`);
    }
  }
  return agg;
}
