import { Counter, Gauge, type Registry } from "prom-client";
import { STATE_NAMES } from "./types.js";

/** Dialect label values. */
export type Dialect = "opi" | "v1";

/**
 * Metrics of the device emulator, on an injected registry (STYLE.md §7). `countByState` and
 * `capacity` are read at scrape time.
 */
export function offloadSimMetrics(r: Registry, source: { countByState(): number[]; capacity: number }) {
  return {
    sessions: new Gauge({
      name: "tributary_offload_sim_sessions",
      help: "Entries in the emulated session table, by session state (CLOSED ones wait to be drained or deleted).",
      labelNames: ["state"] as const,
      registers: [r],
      collect() {
        const counts = source.countByState();
        STATE_NAMES.forEach((state, i) => this.set({ state }, counts[i] ?? 0));
      },
    }),
    capacity: new Gauge({
      name: "tributary_offload_sim_capacity_sessions",
      help: "Configured capacity of the emulated session table.",
      registers: [r],
      collect() {
        this.set(source.capacity);
      },
    }),
    added: new Counter({
      name: "tributary_offload_sim_added_sessions_total",
      help: "Sessions inserted by AddSession, by dialect.",
      labelNames: ["dialect"] as const,
      registers: [r],
    }),
    rejected: new Counter({
      name: "tributary_offload_sim_rejected_sessions_total",
      help: "Sessions AddSession did not insert, by reason (invalid, duplicate_id, duplicate_tuple, table_full).",
      labelNames: ["reason"] as const,
      registers: [r],
    }),
    rejectedStreams: new Counter({
      name: "tributary_offload_sim_rejected_streams_total",
      help: "AddSession streams refused as a whole with an RPC error, by reason (too_many: more than 64 sessions).",
      labelNames: ["reason"] as const,
      registers: [r],
    }),
    closed: new Counter({
      name: "tributary_offload_sim_closed_sessions_total",
      help: "Sessions closed by the traffic model, by close code (finack, rst, timeout).",
      labelNames: ["code"] as const,
      registers: [r],
    }),
    deleted: new Counter({
      name: "tributary_offload_sim_deleted_sessions_total",
      help: "Sessions removed by DeleteSession.",
      registers: [r],
    }),
    drained: new Counter({
      name: "tributary_offload_sim_drained_sessions_total",
      help: "Closed sessions removed by getClosedSessions.",
      registers: [r],
    }),
    lookupErrors: new Counter({
      name: "tributary_offload_sim_lookup_errors_total",
      help: "GetSession/DeleteSession calls that named no session or an ambiguous one, by reason.",
      labelNames: ["reason"] as const,
      registers: [r],
    }),
    skippedTicks: new Counter({
      name: "tributary_offload_sim_skipped_ticks_total",
      help: "Traffic ticks skipped because the emulator fell too far behind the clock.",
      registers: [r],
    }),
  };
}

/** The metrics object {@link offloadSimMetrics} returns. */
export type OffloadSimMetrics = ReturnType<typeof offloadSimMetrics>;
