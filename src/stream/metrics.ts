import { Counter, Gauge, Summary, type Registry } from "prom-client";

/**
 * Metrics of the StreamHub (STYLE.md §7): Goldmane's names where Goldmane has one
 * (goldmane-spec §8.4), `tributary_*` for what Goldmane does not count.
 */
export function streamMetrics(r: Registry) {
  return {
    streams: new Gauge({
      name: "goldmane_num_streams",
      help: "Open Flows.Stream subscriptions",
      registers: [r],
    }),
    backfillLatency: new Summary({
      name: "goldmane_aggr_backfill_latency_ms",
      help: "Time from subscription until a stream's backfill is rendered, in milliseconds",
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [r],
    }),
    overflows: new Counter({
      name: "tributary_stream_overflows_total",
      help: "Streams ended with RESOURCE_EXHAUSTED because they fell behind (reason: queue_full = the bounded queue overflowed, expired = a bucket was recycled before it was sent)",
      labelNames: ["reason"],
      registers: [r],
    }),
    sent: new Counter({
      name: "tributary_stream_results_sent_total",
      help: "FlowResults handed to Flows.Stream consumers (backfill and live)",
      registers: [r],
    }),
  };
}

export type StreamMetrics = ReturnType<typeof streamMetrics>;
