import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Flows } from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { filterHintsMethod } from "./flows-filter-hints.js";
import { listMethod, type HistoryRef } from "./flows-list.js";
import type { StreamHub } from "../stream/index.js";
import { streamMethod } from "./flows-stream.js";

export interface FlowsDeps {
  aggregator: Aggregator;
  /** Flows.Stream subscriptions; without it Stream answers UNIMPLEMENTED. */
  streams?: StreamHub;
  /** The PostgreSQL history, when configured. */
  history?: HistoryRef;
}

/** goldmane.Flows: one module per method (flows-list.ts, …); this file only assembles them. */
export function flowsService(deps: FlowsDeps): Partial<ServiceImpl<typeof Flows>> {
  return {
    list: listMethod(deps.aggregator, deps.history),
    stream: deps.streams
      ? streamMethod(deps.aggregator, deps.streams)
      : // eslint-disable-next-line require-yield
        async function* () {
          throw new ConnectError("Flows.Stream is not available yet", Code.Unimplemented);
        },
    filterHints: filterHintsMethod(deps.aggregator, deps.history),
  };
}
