import { Counter, Gauge, type Registry } from "prom-client";

/**
 * The offload bridge's metrics on an injected registry (STYLE.md §7). Labels are per device (its
 * URL), per node or per small enum: never per session or per flow key.
 */
export const offloadBridgeMetrics = (r: Registry) => ({
  polls: new Counter({ name: "tributary_offload_bridge_polls_total", help: "Device polls by result (ok, baseline, error)", labelNames: ["device", "result"], registers: [r] }),
  sessions: new Gauge({ name: "tributary_offload_bridge_sessions", help: "Sessions listed by the device at the last successful poll", labelNames: ["device"], registers: [r] }),
  sessionsSeen: new Counter({ name: "tributary_offload_bridge_sessions_seen_total", help: "Session instances seen for the first time (baseline included)", labelNames: ["device"], registers: [r] }),
  resets: new Counter({ name: "tributary_offload_bridge_session_resets_total", help: "New instances under a known session id (counter = counters went down, reuse = start time changed)", labelNames: ["device", "reason"], registers: [r] }),
  lostFinalDeltas: new Counter({ name: "tributary_offload_lost_final_deltas_total", help: "Sessions that ended between polls without a final read: their last delta is lost (reference §3.2)", labelNames: ["device"], registers: [r] }),
  undescribed: new Counter({ name: "tributary_offload_bridge_undescribed_sessions_total", help: "Session deltas dropped because no descriptor (addresses, ports, protocol) is known for the session", labelNames: ["device"], registers: [r] }),
  skipped: new Counter({ name: "tributary_offload_bridge_skipped_sessions_total", help: "Session deltas not mapped to a Flow, by reason (unknown_action)", labelNames: ["device", "reason"], registers: [r] }),
  deviceErrors: new Counter({ name: "tributary_offload_bridge_device_errors_total", help: "Failed device calls by reason (unavailable, deadline, garbage, rpc)", labelNames: ["device", "reason"], registers: [r] }),
  flowsSent: new Counter({ name: "tributary_offload_bridge_flows_sent_total", help: "FlowUpdates written to the collector stream (replay = after a reconnect)", labelNames: ["node", "replay"], registers: [r] }),
  reconnects: new Counter({ name: "tributary_offload_bridge_collector_reconnects_total", help: "Collector streams reopened after an error or end", labelNames: ["node"], registers: [r] }),
  resolutions: new Counter({ name: "tributary_offload_bridge_resolutions_total", help: "Address resolutions: hit = a pod, node or service; miss = unknown (Network)", labelNames: ["result"], registers: [r] }),
  resolutionCache: new Counter({ name: "tributary_offload_bridge_resolution_cache_total", help: "Resolution cache lookups (lru-cache) by result", labelNames: ["result"], registers: [r] }),
  kubeErrors: new Counter({ name: "tributary_offload_bridge_kube_errors_total", help: "Kubernetes informer errors (each one restarts the informer after a backoff)", labelNames: ["resource"], registers: [r] }),
  tapSessions: new Counter({ name: "tributary_offload_bridge_tap_described_sessions_total", help: "Session descriptors learnt from AddSession calls passing through the tap", labelNames: ["device"], registers: [r] }),
});

export type OffloadBridgeMetrics = ReturnType<typeof offloadBridgeMetrics>;
