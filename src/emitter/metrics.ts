import { Counter, Gauge, type Registry } from "prom-client";

/** The emitter's counters (README, Metrics), registered only when PUSH_URL is set. */
export const emitterMetrics = (r: Registry) => ({
  batchesSent: new Counter({ name: "tributary_emitter_batches_sent_total", help: "Windows of flows POSTed to PUSH_URL and answered 200", registers: [r] }),
  flowsSent: new Counter({ name: "tributary_emitter_flows_sent_total", help: "Flows in the batches sent", registers: [r] }),
  batchesRetried: new Counter({ name: "tributary_emitter_batches_retried_total", help: "Failed POST attempts that were scheduled for a retry (backoff 1s doubling to 30s)", registers: [r] }),
  batchesFailed: new Counter({ name: "tributary_emitter_batches_failed_total", help: "Windows given up after EMITTER_MAX_RETRIES retries", registers: [r] }),
  windowsSkipped: new Counter({ name: "tributary_emitter_windows_skipped_total", help: "Windows not emitted because their buckets had left the history (emitter disabled or stalled for too long)", registers: [r] }),
  stateErrors: new Counter({ name: "tributary_emitter_state_errors_total", help: "Failed reads or writes of ConfigMap flow-emitter-state", labelNames: ["op"] as const, registers: [r] }),
  latestTimestamp: new Gauge({ name: "tributary_emitter_latest_timestamp_seconds", help: "End of the last window emitted (or found empty), as kept in flow-emitter-state", registers: [r] }),
  enabled: new Gauge({ name: "tributary_emitter_enabled", help: "1 when FILE_CONFIG_PATH (or its absence) lets the emitter emit", registers: [r] }),
});

export type EmitterMetrics = ReturnType<typeof emitterMetrics>;
