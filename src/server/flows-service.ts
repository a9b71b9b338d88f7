import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { FlowListResultSchema, ListMetadataSchema, type Flows } from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { rowToProto } from "../model/convert.js";
import { listFlows } from "../query/list.js";
import { parseListRequest, toConnectError, type QueryContext } from "./parse-request.js";

export interface FlowsDeps {
  aggregator: Aggregator;
}

/** The clock and ring geometry a query is interpreted in. */
export function queryContext(agg: Aggregator): QueryContext {
  agg.tick();
  return { nowSec: agg.nowSec(), oldestStartSec: agg.store.ring.oldestStart, windowSec: agg.windowSec };
}

/** goldmane.Flows: parse, delegate to query/, convert (STYLE.md §3). */
export function flowsService(deps: FlowsDeps): Partial<ServiceImpl<typeof Flows>> {
  return {
    list(req) {
      try {
        const q = parseListRequest(req, queryContext(deps.aggregator));
        const answer = listFlows(deps.aggregator.store, q);
        return create(FlowListResultSchema, {
          meta: create(ListMetadataSchema, {
            totalPages: BigInt(answer.meta.totalPages),
            totalResults: BigInt(answer.meta.totalResults),
          }),
          flows: answer.rows.map((r) => rowToProto(r)),
        });
      } catch (e) {
        throw toConnectError(e);
      }
    },
    // eslint-disable-next-line require-yield
    async *stream() {
      throw new ConnectError("Flows.Stream is not available yet", Code.Unimplemented);
    },
    filterHints() {
      throw new ConnectError("Flows.FilterHints is not available yet", Code.Unimplemented);
    },
  };
}
