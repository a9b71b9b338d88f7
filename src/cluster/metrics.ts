import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Metrics of cluster mode (issue 14 item 5): the log appender, the replica and snapshots. */
export function clusterMetrics(r: Registry) {
  return {
    info: new Gauge({ name: "tributary_cluster_info", help: "1, labelled with this replica's role and the log stream", labelNames: ["role", "stream"], registers: [r] }),
    logUp: new Gauge({ name: "tributary_cluster_log_up", help: "1 while appends to the log succeed (ingest roles), else 0", registers: [r] }),
    appendLatency: new Histogram({
      name: "tributary_cluster_append_latency_seconds",
      help: "From sealing a batch to JetStream's acknowledgement (receipts wait for it)",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    }),
    receiptWait: new Histogram({
      name: "tributary_cluster_receipt_wait_seconds",
      help: "From the first update of a batch to JetStream's acknowledgement of it: the longest any of the batch's receipts waited for the log (the receipt latency the log adds)",
      buckets: [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    }),
    batchUpdates: new Histogram({
      name: "tributary_cluster_batch_updates",
      help: "FlowUpdates per log message",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers: [r],
    }),
    batchBytes: new Histogram({
      name: "tributary_cluster_batch_bytes",
      help: "Bytes per log message",
      buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576],
      registers: [r],
    }),
    appendedUpdates: new Counter({ name: "tributary_cluster_appended_updates_total", help: "FlowUpdates acknowledged by the log", registers: [r] }),
    publishFailures: new Counter({ name: "tributary_cluster_publish_failures_total", help: "Log messages not acknowledged (their ingest calls ended with UNAVAILABLE)", registers: [r] }),
    refusedUpdates: new Counter({ name: "tributary_cluster_refused_updates_total", help: "FlowUpdates refused because the log was unavailable", registers: [r] }),
    appliedSequence: new Gauge({ name: "tributary_cluster_applied_sequence", help: "Stream sequence of the last log message applied to this replica's store", registers: [r] }),
    appliedUpdates: new Counter({ name: "tributary_cluster_applied_updates_total", help: "FlowUpdates applied from the log", registers: [r] }),
    lagMessages: new Gauge({ name: "tributary_cluster_consumer_lag_messages", help: "Log messages not yet applied", registers: [r] }),
    lagSeconds: new Gauge({ name: "tributary_cluster_consumer_lag_seconds", help: "Age of the last applied message while messages are pending (0 when caught up)", registers: [r] }),
    replayProgress: new Gauge({ name: "tributary_cluster_replay_progress_ratio", help: "Share of the log present at start that has been applied (1 = caught up)", registers: [r] }),
    badEntries: new Counter({ name: "tributary_cluster_bad_entries_total", help: "Log messages or records that could not be read (skipped)", labelNames: ["what"], registers: [r] }),
    snapshotAge: new Gauge({ name: "tributary_cluster_snapshot_age_seconds", help: "Seconds since the newest snapshot in the bucket was written (as seen by this replica)", registers: [r] }),
    snapshotBytes: new Gauge({ name: "tributary_cluster_snapshot_bytes", help: "Size of the newest snapshot written or loaded by this replica", registers: [r] }),
    snapshotSequence: new Gauge({ name: "tributary_cluster_snapshot_sequence", help: "Stream sequence covered by the newest snapshot written or loaded by this replica", registers: [r] }),
    snapshotWrites: new Counter({ name: "tributary_cluster_snapshot_writes_total", help: "Snapshots written, by result", labelNames: ["result"], registers: [r] }),
  };
}

export type ClusterMetrics = ReturnType<typeof clusterMetrics>;
