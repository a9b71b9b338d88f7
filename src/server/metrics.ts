import { Counter, Gauge, type Registry } from "prom-client";

/** Metrics of the RPC edge (goldmane-spec §8.4 names). */
export function serverMetrics(r: Registry) {
  return {
    collectorClients: new Gauge({
      name: "goldmane_collector_num_clients",
      help: "Open FlowCollector.Connect streams",
      registers: [r],
    }),
    collectorReceived: new Counter({
      name: "goldmane_collector_received_flows",
      help: "Flow updates received, per reporting node",
      labelNames: ["source"],
      registers: [r],
    }),
  };
}

export type ServerMetrics = ReturnType<typeof serverMetrics>;
