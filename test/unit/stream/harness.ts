/**
 * Test harness for the StreamHub: the real aggregator on a manual clock (test/helpers/flow-fixtures)
 * and a manual scheduler, so rendering slices run only when the test says so (no sleeps, no timers).
 */
import type { FlowResult } from "../../../src/gen/goldmane/api_pb.js";
import type { AggregatorConfig } from "../../../src/aggregator/aggregator.js";
import { compileFilter, MATCH_ALL, type FilterSpec } from "../../../src/query/filter.js";
import { createStreamHub, streamMetrics, type StreamHub, type StreamHubConfig, type StreamSubscription } from "../../../src/stream/index.js";
import { testAggregator, type TestAggregator } from "../../helpers/flow-fixtures.js";

export interface StreamHarness extends TestAggregator {
  hub: StreamHub;
  /** Rendering slices scheduled and not yet run. */
  pending(): number;
  /** Runs one scheduled slice; false when none was scheduled. */
  step(): boolean;
  /** Runs slices until none is scheduled (bounded, so a scheduling loop fails the test). */
  runAll(): number;
  /** Opens a stream: `startSec` null = no backfill; `filter` patches MATCH_ALL. */
  open(startSec: number | null, filter?: Partial<FilterSpec>): StreamSubscription;
}

/** A compact view of a result, for readable assertions. */
export interface Seen {
  id: number;
  start: number;
  end: number;
  src: string;
  dst: string;
  packetsIn: number;
}

export function seen(r: FlowResult): Seen {
  const f = r.flow!;
  return {
    id: Number(r.id),
    start: Number(f.startTime),
    end: Number(f.endTime),
    src: f.Key!.sourceName,
    dst: f.Key!.destName,
    packetsIn: Number(f.packetsIn),
  };
}

/** Takes everything queued now. */
export function takeAll(sub: StreamSubscription): Seen[] {
  const out: Seen[] = [];
  let r: FlowResult | undefined;
  while ((r = sub.take()) !== undefined) out.push(seen(r));
  return out;
}

/** Runs the scheduler and takes everything, alternately, until nothing more comes. */
export function drain(h: StreamHarness, sub: StreamSubscription): Seen[] {
  const out: Seen[] = [];
  for (let i = 0; i < 100_000; i++) {
    h.runAll();
    const got = takeAll(sub);
    if (got.length === 0 && h.pending() === 0) return out;
    out.push(...got);
  }
  throw new Error("stream never went idle");
}

/** Distinct bucket starts in order of appearance. */
export function buckets(rows: Seen[]): number[] {
  const out: number[] = [];
  for (const r of rows) if (out[out.length - 1] !== r.start) out.push(r.start);
  return out;
}

export function streamHarness(
  hubConfig: Partial<StreamHubConfig> = {},
  aggConfig: Partial<AggregatorConfig> = {},
  startSec?: number,
): StreamHarness {
  const t = testAggregator(aggConfig, startSec);
  const tasks: (() => void)[] = [];
  let ms = 0;
  const hub = createStreamHub(
    { maxStreams: 1000, queueSize: 10_000, ...hubConfig },
    { source: t.agg, metrics: streamMetrics(t.registry), schedule: (task) => tasks.push(task), nowMs: () => (ms += 1) },
  );
  const step = () => {
    const task = tasks.shift();
    if (!task) return false;
    task();
    return true;
  };
  return Object.assign(t, {
    hub,
    pending: () => tasks.length,
    step,
    runAll() {
      let n = 0;
      while (step()) if (++n > 1_000_000) throw new Error("scheduler never went idle");
      return n;
    },
    open(start: number | null, filter: Partial<FilterSpec> = {}) {
      t.agg.tick();
      return hub.subscribe({ startSec: start, filter: compileFilter({ ...MATCH_ALL, ...filter }) });
    },
  });
}
