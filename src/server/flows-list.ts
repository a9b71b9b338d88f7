import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { FlowListResultSchema, ListMetadataSchema, type FlowListRequest, type FlowListResult } from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { rowToProto } from "../model/convert.js";
import { listFlows } from "../query/list.js";
import { kCallAuth, withScope } from "../auth/index.js";
import { filterSpec, parseListRequest, toConnectError, type QueryContext } from "./parse-request.js";
import { preEncoded, wantsBinary } from "../model/pre-encoded.js";
import { encodeFlowListResult } from "./flows-list-encode.js";

/** The clock and ring geometry a query is interpreted in (rolls the ring forward first). */
export function queryContext(agg: Aggregator): QueryContext {
  agg.tick();
  return { nowSec: agg.nowSec(), oldestStartSec: agg.store.ring.oldestStart, windowSec: agg.windowSec };
}

/** Flows.List: parse, delegate to query/, convert (STYLE.md §3). */
export function listMethod(aggregator: Aggregator) {
  return (req: FlowListRequest, ctx: HandlerContext): FlowListResult => {
    try {
      const auth = ctx.values.get(kCallAuth);
      const q = parseListRequest(req, queryContext(aggregator));
      // A namespace-scoped QUERY token sees only its flows (issue 8).
      auth.requireInScope(filterSpec(req.filter));
      const answer = listFlows(aggregator.store, { ...q, filter: withScope(q.filter, auth.scope) });
      // Binary codecs get the bytes encoded straight from the rows (an unpaged List is every row:
      // 100 000 results at 100 000 keys); JSON gets ordinary messages.
      if (wantsBinary(ctx.requestHeader.get("content-type"))) return preEncoded(FlowListResultSchema, encodeFlowListResult(answer.meta, answer.rows));
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
