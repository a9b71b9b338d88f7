import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { FlowListResultSchema, ListMetadataSchema, type FlowListRequest, type FlowListResult } from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { rowToProto } from "../model/convert.js";
import { listFlows, listPage, ListRowScratch, type ListAnswer, type ListQuery } from "../query/list.js";
import { kCallAuth, withScope, type CallAuth } from "../auth/index.js";
import type { HistorySource } from "../query/history-source.js";
import { filterSpec, parseListRequest, toConnectError, type QueryContext } from "./parse-request.js";
import { preEncoded, wantsBinary } from "../model/pre-encoded.js";
import { encodeFlowList, encodeFlowListResult, type EncodeInto } from "./flows-list-encode.js";

/** The history source, when HISTORY_POSTGRES_URL is set (looked up per call: it starts later). */
export type HistoryRef = () => HistorySource | undefined;

/** Response header naming the bucket width (seconds) an answer was computed at (docs/DESIGN.md §10). */
export const RESOLUTION_HEADER = "tributary-resolution";

/** The clock and ring geometry a query is interpreted in (rolls the ring forward first). */
export function queryContext(agg: Aggregator): QueryContext {
  agg.tick();
  return { nowSec: agg.nowSec(), oldestStartSec: agg.store.ring.oldestStart, windowSec: agg.windowSec };
}

/** A List answer for a binary caller: the encoded FlowListResult and the resolution it was computed at. */
export interface EncodedList {
  /** The FlowListResult's bytes after the `prefixBytes` left for the caller's framing (EncodeInto). */
  readonly bytes: Uint8Array;
  readonly resolutionSec: number;
}

/** Where a List is answered: memory (with the query to run) or the history (its answer, later). */
type ListPlan =
  | { readonly memory: ListQuery; readonly resolutionSec: number }
  | { readonly history: Promise<{ answer: ListAnswer; resolutionSec: number }> };

/**
 * Parses a List request and decides where it is answered: with a history, a range that starts
 * before the oldest bucket in memory goes to it (DESIGN §10). Throws {@link QueryError}s and
 * auth errors; the history's rejections are converted by the caller.
 */
function planList(aggregator: Aggregator, history: HistoryRef, req: FlowListRequest, auth: CallAuth): ListPlan {
  const qc = queryContext(aggregator);
  const h = history();
  // With a history, the interval is checked against the resolution actually used.
  const q = parseListRequest(req, h ? { ...qc, windowSec: 1 } : qc);
  // A namespace-scoped QUERY token sees only its flows (issue 8).
  auth.requireInScope(filterSpec(req.filter));
  if (h && q.range.gteSec < qc.oldestStartSec) {
    return { history: h.list({ ...q, scope: auth.scope }).then((r) => ({ answer: r.answer, resolutionSec: r.resolutionSec })) };
  }
  if (h) parseListRequest(req, qc);
  return { memory: { ...q, filter: withScope(q.filter, auth.scope) }, resolutionSec: qc.windowSec };
}

/**
 * Flows.List for binary callers, shared by the Connect method and the gRPC List lane
 * (list-fast-lane.ts): in memory, each row is encoded as it is summed (no row objects); `into`
 * says where (room for the caller's framing, a buffer to reuse).
 */
export function listEncoder(aggregator: Aggregator, history: HistoryRef = () => undefined) {
  return (req: FlowListRequest, auth: CallAuth, into: EncodeInto = {}): EncodedList | Promise<EncodedList> => {
    const plan = planList(aggregator, history, req, auth);
    if ("history" in plan) {
      return plan.history.then((r) => ({ bytes: encodeFlowListResult(r.answer.meta, r.answer.rows, into), resolutionSec: r.resolutionSec }));
    }
    const page = listPage(aggregator.store, plan.memory);
    const scratch = new ListRowScratch();
    return { bytes: encodeFlowList(page.meta, page.length, (i) => page.rowInto(i, scratch), into), resolutionSec: plan.resolutionSec };
  };
}

/** Flows.List: parse, delegate to query/ (or the history), convert (STYLE.md §3). */
export function listMethod(aggregator: Aggregator): (req: FlowListRequest, ctx: HandlerContext) => FlowListResult;
export function listMethod(aggregator: Aggregator, history: HistoryRef | undefined): (req: FlowListRequest, ctx: HandlerContext) => FlowListResult | Promise<FlowListResult>;
export function listMethod(aggregator: Aggregator, history: HistoryRef = () => undefined) {
  const encoded = listEncoder(aggregator, history);
  const toMessage = (answer: ListAnswer): FlowListResult =>
    create(FlowListResultSchema, {
      meta: create(ListMetadataSchema, {
        totalPages: BigInt(answer.meta.totalPages),
        totalResults: BigInt(answer.meta.totalResults),
      }),
      flows: answer.rows.map((r) => rowToProto(r)),
    });
  return (req: FlowListRequest, ctx: HandlerContext): FlowListResult | Promise<FlowListResult> => {
    const answered = <T extends { resolutionSec: number }, R>(r: T | Promise<T>, result: (r: T) => R): R | Promise<R> => {
      const done = (x: T) => {
        ctx.responseHeader.set(RESOLUTION_HEADER, String(x.resolutionSec));
        return result(x);
      };
      return r instanceof Promise
        ? r.then(done, (e: unknown) => {
            throw toConnectError(e);
          })
        : done(r);
    };
    try {
      const auth = ctx.values.get(kCallAuth);
      // Binary codecs get the bytes encoded straight from the rows (an unpaged List is every row:
      // 100 000 results at 100 000 keys); JSON gets ordinary messages.
      if (wantsBinary(ctx.requestHeader.get("content-type"))) {
        return answered(encoded(req, auth), (r) => preEncoded(FlowListResultSchema, r.bytes));
      }
      const plan = planList(aggregator, history, req, auth);
      if ("history" in plan) return answered(plan.history, (r) => toMessage(r.answer));
      return answered({ resolutionSec: plan.resolutionSec }, () => toMessage(listFlows(aggregator.store, plan.memory)));
    } catch (e) {
      throw toConnectError(e);
    }
  };
}
