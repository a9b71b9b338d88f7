import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { toBinary } from "@bufbuild/protobuf";
import { FlowResultSchema, type FlowResult, type FlowStreamRequest } from "../gen/goldmane/api_pb.js";
import { preEncoded, wantsBinary } from "../model/pre-encoded.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { QueryError } from "../query/errors.js";
import { compileFilter } from "../query/filter.js";
import { StreamEndedError, type StreamHub, type StreamRequest } from "../stream/index.js";
import { queryContext } from "./flows-list.js";
import { kCallAuth, withScope } from "../auth/index.js";
import { filterSpec, int, toConnectError, type QueryContext } from "./parse-request.js";

/**
 * Validates a FlowStreamRequest (goldmane-spec §5.1, DESIGN §4): start_time_gte 0 = no backfill,
 * negative = relative to now; aggregation_interval must be 0 or W (a stream sends one result per
 * key per W bucket, so no other width can be honoured).
 */
export function parseStreamRequest(req: FlowStreamRequest, ctx: QueryContext): StreamRequest {
  const interval = int("aggregation_interval", req.aggregationInterval);
  if (interval !== 0 && interval !== ctx.windowSec) {
    throw new QueryError("aggregation_interval", `must be 0 or the aggregation window (${ctx.windowSec}s), got ${interval}`);
  }
  const gte = int("start_time_gte", req.startTimeGte);
  const startSec = gte === 0 ? null : gte > 0 ? gte : Math.floor(ctx.nowSec) + gte;
  return { startSec, filter: compileFilter(filterSpec(req.filter)) };
}

/**
 * The pre-encoded twin of a result. A live batch's results are shared by every stream, so with
 * 100 streams each result is serialised once instead of 100 times (DESIGN §5).
 */
const encoded = new WeakMap<FlowResult, FlowResult>();
function encodedOnce(r: FlowResult): FlowResult {
  let e = encoded.get(r);
  if (e === undefined) {
    e = preEncoded(FlowResultSchema, toBinary(FlowResultSchema, r));
    encoded.set(r, e);
  }
  return e;
}

/** Maps hub and query errors to gRPC codes. */
function streamError(e: unknown): unknown {
  if (e instanceof StreamEndedError) return new ConnectError(e.message, e.reason === "closed" ? Code.Unavailable : Code.ResourceExhausted);
  return toConnectError(e);
}

/**
 * Flows.Stream: parse, subscribe, then relay the subscription's results until the client cancels,
 * the server shuts down (both abort `ctx.signal`) or the hub ends the stream (STYLE.md §3).
 */
export function streamMethod(aggregator: Aggregator, hub: StreamHub) {
  return async function* stream(req: FlowStreamRequest, ctx: HandlerContext): AsyncGenerator<FlowResult> {
    let sub;
    try {
      const auth = ctx.values.get(kCallAuth);
      const sr = parseStreamRequest(req, queryContext(aggregator));
      // A namespace-scoped QUERY token sees only its flows, backfill and live (issue 8).
      auth.requireInScope(filterSpec(req.filter));
      sub = hub.subscribe({ ...sr, filter: withScope(sr.filter, auth.scope) });
    } catch (e) {
      throw streamError(e);
    }
    const binary = wantsBinary(ctx.requestHeader.get("content-type"));
    try {
      for (;;) {
        let r: FlowResult | undefined;
        while ((r = sub.take()) !== undefined) yield binary ? encodedOnce(r) : r;
        ctx.signal.throwIfAborted();
        await sub.wait(ctx.signal);
        ctx.signal.throwIfAborted();
      }
    } catch (e) {
      throw streamError(e);
    } finally {
      // Frees the queue and the MAX_STREAMS slot as soon as the call ends, however it ends.
      sub.close();
    }
  };
}
