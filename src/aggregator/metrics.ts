import { Counter, Gauge, Summary, type Registry } from "prom-client";

/**
 * Hot-path tallies the aggregator keeps as plain numbers (a prom-client call per flow would cost
 * more than storing the flow); the metrics read them when scraped.
 */
export interface IngestTallies {
  received: number;
  duplicates: number;
  keys: number;
  keyBuckets: number;
}

/** Metrics of the aggregator: Goldmane's names where Goldmane has one (goldmane-spec §8.4). */
export function aggregatorMetrics(r: Registry) {
  const source: { tallies: () => IngestTallies | undefined } = { tallies: () => undefined };
  const fromTally = (pick: (t: IngestTallies) => number) =>
    function (this: Counter | Gauge) {
      const t = source.tallies();
      if (!t) return;
      if (this instanceof Gauge) this.set(pick(t));
      else {
        this.reset();
        this.inc(pick(t));
      }
    };
  return {
    /** Connects the scrape-time metrics to the aggregator's tallies. */
    bind(tallies: () => IngestTallies) {
      source.tallies = tallies;
    },
    received: new Counter({
      name: "goldmane_aggr_received_flows_total",
      help: "Flows handed to the aggregator (well-formed), whether stored, duplicate or rejected",
      registers: [r],
      collect: fromTally((t) => t.received),
    }),
    ipsDropped: new Counter({
      name: "tributary_flow_ips_dropped_total",
      help: "Source or destination IPs not kept because a flow's set already held 100 (per key and bucket)",
      registers: [r],
    }),
    dropped: new Counter({
      name: "goldmane_aggr_dropped_flows_total",
      help: "Flows dropped for capacity (MAX_UNIQUE_FLOWS reached for a new key)",
      registers: [r],
    }),
    uniqueFlows: new Gauge({
      name: "goldmane_aggr_num_unique_flows",
      help: "Number of distinct flow keys held",
      registers: [r],
      collect: fromTally((t) => t.keys),
    }),
    rolloverDuration: new Summary({
      name: "goldmane_aggr_rollover_duration_ms",
      help: "Time spent in a rollover, in milliseconds",
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [r],
    }),
    rolloverLatency: new Summary({
      name: "goldmane_aggr_rollover_latency_ms",
      help: "Delay scheduled until the next rollover, in milliseconds",
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [r],
    }),
    rejected: new Counter({
      name: "tributary_rejected_flows_total",
      help: "Flow updates not stored, by reason (malformed input, out_of_window, max_unique_flows)",
      labelNames: ["reason"],
      registers: [r],
    }),
    duplicates: new Counter({
      name: "tributary_duplicate_flows_total",
      help: "Flow updates ignored because the same node already delivered the same key/start/end",
      registers: [r],
      collect: fromTally((t) => t.duplicates),
    }),
    keyBuckets: new Gauge({
      name: "tributary_key_buckets",
      help: "Stored (key, bucket) windows",
      registers: [r],
      collect: fromTally((t) => t.keyBuckets),
    }),
  };
}

export type AggregatorMetrics = ReturnType<typeof aggregatorMetrics>;
