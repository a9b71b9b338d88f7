import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  PolicyHitSchema,
  StatisticsResultSchema,
  type Statistics,
  type StatisticsRequest,
  type StatisticsResult,
} from "../gen/goldmane/api_pb.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { seriesRow, statisticsAnswer, type StatisticsAnswer, type StatisticsQuery, type StatisticsRow } from "../query/statistics.js";
import { normalizeTimeRange } from "../query/time-range.js";
import { queryContext, RESOLUTION_HEADER, type HistoryRef } from "./flows-list.js";
import { kCallAuth } from "../auth/index.js";
import { int, policyMatchSpec, toConnectError, type QueryContext } from "./parse-request.js";
import { preEncoded, wantsBinary } from "../model/pre-encoded.js";
import { encodeStatisticsSeries } from "./statistics-encode.js";

export interface StatisticsDeps {
  aggregator: Aggregator;
  /** The PostgreSQL history, when configured (ranges starting before the oldest bucket in memory). */
  history?: HistoryRef;
}

/** Validates a StatisticsRequest (type, group_by and the ring bounds are checked by the query). */
export function parseStatisticsRequest(req: StatisticsRequest, ctx: QueryContext): StatisticsQuery {
  const range = normalizeTimeRange(int("start_time_gte", req.startTimeGte), int("start_time_lt", req.startTimeLt), ctx.nowSec, ctx.oldestStartSec);
  return {
    range,
    type: req.type,
    groupBy: req.groupBy,
    policyMatch: policyMatchSpec(req.policyMatch),
    timeSeries: req.timeSeries,
  };
}

const big = (xs: number[]) => xs.map((v) => BigInt(v));

/** One StatisticsRow as a StatisticsResult (policy_index is always 0; x only for time series). */
export function statisticsResult(r: StatisticsRow): StatisticsResult {
  return create(StatisticsResultSchema, {
    policy: create(PolicyHitSchema, {
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      tier: r.tier,
      action: r.action,
      ruleIndex: BigInt(r.ruleIndex),
    }),
    direction: r.direction,
    groupBy: r.groupBy,
    type: r.type,
    allowedIn: big(r.allowedIn),
    allowedOut: big(r.allowedOut),
    deniedIn: big(r.deniedIn),
    deniedOut: big(r.deniedOut),
    passedIn: big(r.passedIn),
    passedOut: big(r.passedOut),
    x: r.x ? big(r.x) : [],
  });
}

/**
 * goldmane.Statistics (goldmane-spec §7): List streams one result per policy or rule. With no
 * match it sends one empty StatisticsResult and then ends with NOT_FOUND (Goldmane's client relies
 * on it: proxies drop trailers-only responses).
 */
export function statisticsService(deps: StatisticsDeps): Partial<ServiceImpl<typeof Statistics>> {
  const { aggregator } = deps;
  return {
    async *list(req: StatisticsRequest, ctx: HandlerContext) {
      let answer: StatisticsAnswer;
      try {
        // A namespace-scoped QUERY token counts only its flows' keys (issue 8).
        const scope = ctx.values.get(kCallAuth).scope;
        const qc = queryContext(aggregator);
        const q = { ...parseStatisticsRequest(req, qc), scope };
        const h = deps.history?.();
        if (h && q.range.gteSec < qc.oldestStartSec) {
          // The range starts before the oldest bucket in memory: the history answers (DESIGN §10).
          const r = await h.statistics(q);
          ctx.responseHeader.set(RESOLUTION_HEADER, String(r.resolutionSec));
          answer = r.answer;
        } else {
          ctx.responseHeader.set(RESOLUTION_HEADER, String(qc.windowSec));
          answer = statisticsAnswer(aggregator.store, aggregator.policyStats, q);
        }
      } catch (e) {
        throw toConnectError(e);
      }
      if (answer.size === 0) {
        yield create(StatisticsResultSchema, {});
        throw new ConnectError("No statistics matching request", Code.NotFound);
      }
      // Binary codecs get results encoded from the query's typed arrays (no bigint per value), one
      // at a time as they are sent; JSON gets ordinary messages.
      const binary = wantsBinary(ctx.requestHeader.get("content-type"));
      for (let i = 0; i < answer.size; i++) {
        const s = answer.series(i);
        yield binary ? preEncoded(StatisticsResultSchema, encodeStatisticsSeries(s)) : statisticsResult(seriesRow(s));
      }
    },
  };
}
