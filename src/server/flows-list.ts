import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { FlowListResultSchema, ListMetadataSchema, type FlowListRequest, type FlowListResult } from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { rowToProto } from "../model/convert.js";
import { listFlows } from "../query/list.js";
import { parseListRequest, toConnectError, type QueryContext } from "./parse-request.js";

/** The clock and ring geometry a query is interpreted in (rolls the ring forward first). */
export function queryContext(agg: Aggregator): QueryContext {
  agg.tick();
  return { nowSec: agg.nowSec(), oldestStartSec: agg.store.ring.oldestStart, windowSec: agg.windowSec };
}

/** Flows.List: parse, delegate to query/, convert (STYLE.md §3). */
export function listMethod(aggregator: Aggregator) {
  return (req: FlowListRequest, _ctx: HandlerContext): FlowListResult => {
    try {
      const q = parseListRequest(req, queryContext(aggregator));
      const answer = listFlows(aggregator.store, q);
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
  };
}
