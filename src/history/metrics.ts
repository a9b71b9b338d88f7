import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Metrics of the PostgreSQL history (docs/DESIGN.md §10; README "History (PostgreSQL)"). */
export function historyMetrics(r: Registry) {
  return {
    rowsWritten: new Counter({
      name: "tributary_history_rows_written_total",
      help: "Key-bucket rows written to PostgreSQL, per resolution (rollups included)",
      labelNames: ["resolution"],
      registers: [r],
    }),
    writeSeconds: new Histogram({
      name: "tributary_history_write_seconds",
      help: "Time to write one closed bucket (keys, COPY, rollups) in one transaction",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [r],
    }),
    queueDepth: new Gauge({ name: "tributary_history_queue_buckets", help: "Closed buckets waiting to be written", registers: [r] }),
    droppedBuckets: new Counter({
      name: "tributary_history_dropped_buckets_total",
      help: "Closed buckets dropped because the queue was full (HISTORY_QUEUE_BUCKETS)",
      registers: [r],
    }),
    writeErrors: new Counter({ name: "tributary_history_write_errors_total", help: "Failed bucket writes (retried)", registers: [r] }),
    partitionsDropped: new Counter({
      name: "tributary_history_partitions_dropped_total",
      help: "Time partitions dropped by retention, per resolution",
      labelNames: ["resolution"],
      registers: [r],
    }),
    writer: new Gauge({ name: "tributary_history_writer", help: "1 while this instance holds the writer lock", registers: [r] }),
    querySeconds: new Histogram({
      name: "tributary_history_query_seconds",
      help: "History queries answered from PostgreSQL, per method and resolution (seconds)",
      labelNames: ["method", "resolution"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [r],
    }),
  };
}

export type HistoryMetrics = ReturnType<typeof historyMetrics>;
