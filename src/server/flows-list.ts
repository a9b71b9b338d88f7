import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { FlowListResultSchema, ListMetadataSchema, type FlowListRequest, type FlowListResult } from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { rowToProto } from "../model/convert.js";
import { listFlows, listPage, ListRowScratch, type ListAnswer, type ListQuery } from "../query/list.js";
import { kCallAuth, withScope } from "../auth/index.js";
import type { HistorySource } from "../query/history-source.js";
import { filterSpec, parseListRequest, toConnectError, type QueryContext } from "./parse-request.js";
import { preEncoded, wantsBinary } from "../model/pre-encoded.js";
import { encodeFlowList, encodeFlowListResult } from "./flows-list-encode.js";

/** The history source, when HISTORY_POSTGRES_URL is set (looked up per call: it starts later). */
export type HistoryRef = () => HistorySource | undefined;

/** Response header naming the bucket width (seconds) an answer was computed at (docs/DESIGN.md §10). */
export const RESOLUTION_HEADER = "tributary-resolution";

/** The clock and ring geometry a query is interpreted in (rolls the ring forward first). */
export function queryContext(agg: Aggregator): QueryContext {
  agg.tick();
  return { nowSec: agg.nowSec(), oldestStartSec: agg.store.ring.oldestStart, windowSec: agg.windowSec };
}

/** Flows.List: parse, delegate to query/ (or the history), convert (STYLE.md §3). */
export function listMethod(aggregator: Aggregator): (req: FlowListRequest, ctx: HandlerContext) => FlowListResult;
export function listMethod(aggregator: Aggregator, history: HistoryRef | undefined): (req: FlowListRequest, ctx: HandlerContext) => FlowListResult | Promise<FlowListResult>;
export function listMethod(aggregator: Aggregator, history: HistoryRef = () => undefined) {
  const toResult = (answer: ListAnswer, ctx: HandlerContext): FlowListResult => {
    // Binary codecs get the bytes encoded straight from the rows (an unpaged List is every row:
    // 100 000 results at 100 000 keys); JSON gets ordinary messages.
    if (wantsBinary(ctx.requestHeader.get("content-type"))) return preEncoded(FlowListResultSchema, encodeFlowListResult(answer.meta, answer.rows));
    return toMessage(answer);
  };
  const toMessage = (answer: ListAnswer): FlowListResult =>
    create(FlowListResultSchema, {
      meta: create(ListMetadataSchema, {
        totalPages: BigInt(answer.meta.totalPages),
        totalResults: BigInt(answer.meta.totalResults),
      }),
      flows: answer.rows.map((r) => rowToProto(r)),
    });
  /** The in-memory answer: binary callers get each row encoded as it is summed (no row objects). */
  const fromStore = (q: ListQuery, ctx: HandlerContext): FlowListResult => {
    if (!wantsBinary(ctx.requestHeader.get("content-type"))) return toMessage(listFlows(aggregator.store, q));
    const page = listPage(aggregator.store, q);
    const scratch = new ListRowScratch();
    return preEncoded(FlowListResultSchema, encodeFlowList(page.meta, page.length, (i) => page.rowInto(i, scratch)));
  };
  return (req: FlowListRequest, ctx: HandlerContext): FlowListResult | Promise<FlowListResult> => {
    try {
      const auth = ctx.values.get(kCallAuth);
      const qc = queryContext(aggregator);
      const h = history();
      // With a history, the interval is checked against the resolution actually used.
      const q = parseListRequest(req, h ? { ...qc, windowSec: 1 } : qc);
      // A namespace-scoped QUERY token sees only its flows (issue 8).
      auth.requireInScope(filterSpec(req.filter));
      if (h && q.range.gteSec < qc.oldestStartSec) {
        // The range starts before the oldest bucket in memory: the history answers (DESIGN §10).
        return h.list({ ...q, scope: auth.scope }).then(
          (r) => {
            ctx.responseHeader.set(RESOLUTION_HEADER, String(r.resolutionSec));
            return toResult(r.answer, ctx);
          },
          (e: unknown) => {
            throw toConnectError(e);
          },
        );
      }
      if (h) parseListRequest(req, qc);
      ctx.responseHeader.set(RESOLUTION_HEADER, String(qc.windowSec));
      return fromStore({ ...q, filter: withScope(q.filter, auth.scope) }, ctx);
    } catch (e) {
      throw toConnectError(e);
    }
  };
}
