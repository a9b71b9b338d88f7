import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  FilterHintSchema,
  FilterHintsResultSchema,
  ListMetadataSchema,
  type FilterHintsRequest,
  type FilterHintsResult,
} from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { compileFilter } from "../query/filter.js";
import { filterHints, type FilterHintsAnswer, type FilterHintsQuery } from "../query/filter-hints.js";
import { normalizeTimeRange } from "../query/time-range.js";
import { queryContext, RESOLUTION_HEADER, type HistoryRef } from "./flows-list.js";
import { kCallAuth } from "../auth/index.js";
import { filterSpec, int, pageSpec, toConnectError, type QueryContext } from "./parse-request.js";

/** Validates a FilterHintsRequest (the type itself is checked by the query, goldmane-spec §6). */
export function parseFilterHintsRequest(req: FilterHintsRequest, ctx: QueryContext): FilterHintsQuery {
  const page = pageSpec(req.page, req.pageSize);
  const range = normalizeTimeRange(int("start_time_gte", req.startTimeGte), int("start_time_lt", req.startTimeLt), ctx.nowSec, ctx.oldestStartSec);
  return { range, type: req.type, filter: compileFilter(filterSpec(req.filter)), page };
}

/** Flows.FilterHints: parse, delegate to query/ (or the history), convert (STYLE.md §3). */
export function filterHintsMethod(aggregator: Aggregator): (req: FilterHintsRequest, ctx: HandlerContext) => FilterHintsResult;
export function filterHintsMethod(
  aggregator: Aggregator,
  history: HistoryRef | undefined,
): (req: FilterHintsRequest, ctx: HandlerContext) => FilterHintsResult | Promise<FilterHintsResult>;
export function filterHintsMethod(aggregator: Aggregator, history: HistoryRef = () => undefined) {
  const toResult = (answer: FilterHintsAnswer): FilterHintsResult =>
    create(FilterHintsResultSchema, {
      meta: create(ListMetadataSchema, {
        totalPages: BigInt(answer.meta.totalPages),
        totalResults: BigInt(answer.meta.totalResults),
      }),
      hints: answer.values.map((value) => create(FilterHintSchema, { value })),
    });
  return (req: FilterHintsRequest, ctx: HandlerContext): FilterHintsResult | Promise<FilterHintsResult> => {
    try {
      const auth = ctx.values.get(kCallAuth);
      const qc = queryContext(aggregator);
      const q = parseFilterHintsRequest(req, qc);
      // A namespace-scoped QUERY token gets hints from its flows only (issue 8).
      auth.requireInScope(filterSpec(req.filter));
      const h = history();
      if (h && q.range.gteSec < qc.oldestStartSec) {
        return h.filterHints({ ...q, scope: auth.scope }).then(
          (r) => {
            ctx.responseHeader.set(RESOLUTION_HEADER, String(r.resolutionSec));
            return toResult(r.answer);
          },
          (e: unknown) => {
            throw toConnectError(e);
          },
        );
      }
      ctx.responseHeader.set(RESOLUTION_HEADER, String(qc.windowSec));
      return toResult(filterHints(aggregator.store, { ...q, scope: auth.scope }));
    } catch (e) {
      throw toConnectError(e);
    }
  };
}
