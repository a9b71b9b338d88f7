import { Counter, Gauge, type Registry } from "prom-client";

/** A reporting node's count of received updates not yet added to the Prometheus counter. */
export interface ReceivedTally {
  n: number;
}

/** Metrics of the RPC edge (goldmane-spec §8.4 names). */
export function serverMetrics(r: Registry) {
  // Received updates are tallied in plain per-node cells and added to the counter when it is
  // collected (a scrape): prom-client hashes the label set on every inc, ~1 µs per update on the
  // ingest hot path. A scrape sees every update counted before it.
  const tallies = new Map<string, ReceivedTally>();
  // Registered in `r`; nothing else touches it: the tallies reach it in collect().
  new Counter({
    name: "goldmane_collector_received_flows",
    help: "Flow updates received, per reporting node",
    labelNames: ["source"],
    registers: [r],
    collect() {
      for (const [source, t] of tallies) {
        if (t.n === 0) continue;
        this.labels(source).inc(t.n);
        t.n = 0;
      }
    },
  });
  return {
    collectorClients: new Gauge({
      name: "goldmane_collector_num_clients",
      help: "Open FlowCollector.Connect streams",
      registers: [r],
    }),
    /** The tally of updates received from `node` ("unknown" when it has no name). */
    receivedFrom(node: string): ReceivedTally {
      const source = node || "unknown";
      let t = tallies.get(source);
      if (!t) tallies.set(source, (t = { n: 0 }));
      return t;
    },
  };
}

export type ServerMetrics = ReturnType<typeof serverMetrics>;
