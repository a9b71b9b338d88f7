/**
 * Query latency on steady-state rings (goldmane-spec §9.2 `BenchmarkRingQuery`): List, FilterHints
 * and Statistics measured through the method modules (request parse + query + protobuf result
 * build + the bytes a gRPC client gets: List's lane frame, Connect's binary serialisation for the
 * others), so the figure is what a caller waits for minus the transport.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createContextValues, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Action,
  FilterHintsRequestSchema,
  FilterHintsResultSchema,
  FilterType,
  FlowListResultSchema,
  FlowListRequestSchema,
  Flows,
  Statistics,
  SortBy,
  StatisticsGroupBy,
  StatisticsRequestSchema,
  StatisticsResultSchema,
  StatisticType,
  type StatisticsResult,
  type FilterHintsRequest,
  type FlowListRequest,
  type StatisticsRequest,
} from "../../src/gen/goldmane/api_pb.js";
import type { Aggregator } from "../../src/aggregator/aggregator.js";
import { filterHintsMethod } from "../../src/server/flows-filter-hints.js";
import { listMethod } from "../../src/server/flows-list.js";
import { listAnswers, type ListFrame } from "../../src/server/list-fast-lane.js";
import { ANONYMOUS } from "../../src/auth/index.js";
import { statisticsService } from "../../src/server/statistics-service.js";
import { percentile, type BenchRow } from "./report.js";
import { encodedKeys, steadyRing, type SteadyRing } from "./ring.js";

/** A handler context as Connect builds it for a gRPC call (context values at their defaults). */
function handlerContext(service: DescService, method: DescMethod): HandlerContext {
  return createHandlerContext({
    service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `/${service.typeName}/${method.name}`,
    requestHeader: { "content-type": "application/grpc" },
    contextValues: createContextValues(),
  });
}

/** Times `fn` `iterations` times after `warmup` calls; returns milliseconds per call. */
export async function timeIt(fn: () => unknown, iterations: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms;
}

interface Case {
  name: string;
  run: () => unknown;
  /** Describes the answer once (rows, results), for the note. */
  size: () => Promise<string> | string;
  target?: string;
}

function cases(agg: Aggregator, unpaged: boolean, big: boolean): Case[] {
  const list = listMethod(agg);
  // Written at once: the lane reuses an answer's memory once it is written (answer-buffer.ts).
  const listed = listAnswers(agg);
  const hints = filterHintsMethod(agg);
  const stats = statisticsService({ aggregator: agg }).list!;
  const listCtx = handlerContext(Flows, Flows.method.list);
  const hintsCtx = handlerContext(Flows, Flows.method.filterHints);
  const statsCtx = handlerContext(Statistics, Statistics.method.list);
  const L = (init: Parameters<typeof create<typeof FlowListRequestSchema>>[1]) => {
    const req: FlowListRequest = create(FlowListRequestSchema, init);
    return {
      // The frame a gRPC client gets from the List lane (list-fast-lane.ts), so encoding is measured too.
      run: () => listed.done(listed.answer(req, ANONYMOUS) as ListFrame),
      size: () => {
        // Binary callers get pre-encoded bytes: decode them to count.
        const r = fromBinary(FlowListResultSchema, toBinary(FlowListResultSchema, list(req, listCtx)));
        return `${r.flows.length} rows of ${r.meta!.totalResults}`;
      },
    };
  };
  const H = (type: FilterType) => {
    const req: FilterHintsRequest = create(FilterHintsRequestSchema, { type, pageSize: 100n });
    return {
      run: () => toBinary(FilterHintsResultSchema, hints(req, hintsCtx)),
      size: () => `${hints(req, hintsCtx).meta!.totalResults} values`,
    };
  };
  const S = (groupBy: StatisticsGroupBy, timeSeries: boolean) => {
    const req: StatisticsRequest = create(StatisticsRequestSchema, { type: StatisticType.PacketCount, groupBy, timeSeries });
    const collect = async () => {
      let n = 0;
      for await (const r of stats(req, statsCtx) as AsyncIterable<StatisticsResult>) {
        toBinary(StatisticsResultSchema, r);
        n++;
      }
      return n;
    };
    return { run: collect, size: async () => `${await collect()} results` };
  };
  // Half-way through the keys: the page a user reaches by paging deep into the default order.
  const deepPage = Math.floor(agg.store.keyCount / 200);
  const listTarget = big ? "p99 ≤ 50 ms" : undefined;
  const statTarget = big ? "p99 ≤ 100 ms" : undefined;
  const out: Case[] = [
    { name: "list default, page_size 100", ...L({ pageSize: 100n }), target: listTarget },
    {
      name: "list filtered (dest ns + Allow), page_size 100",
      ...L({ pageSize: 100n, filter: { destNamespaces: [{ value: "team-3" }], actions: [Action.Allow] } }),
      target: listTarget,
    },
    { name: "list sorted by dest name, page_size 100", ...L({ pageSize: 100n, sortBy: [{ sortBy: SortBy.DestName }] }), target: listTarget },
    { name: `list deep page (page ${deepPage} × 100)`, ...L({ pageSize: 100n, page: BigInt(deepPage) }), target: listTarget },
    { name: "list last 5 min, page_size 100", ...L({ pageSize: 100n, startTimeGte: -300n }), target: listTarget },
  ];
  // Every row, as whisker-backend calls List (no page_size).
  if (unpaged) out.push({ name: "list unpaged {}", ...L({}), target: big ? "p99 ≤ 1000 ms" : undefined });
  out.push(
    { name: "hints dest name", ...H(FilterType.FilterTypeDestName) },
    { name: "hints policy name", ...H(FilterType.FilterTypePolicyName) },
    { name: "statistics Policy", ...S(StatisticsGroupBy.Policy, false), target: statTarget },
    { name: "statistics Policy, time_series", ...S(StatisticsGroupBy.Policy, true), target: statTarget },
    { name: "statistics PolicyRule", ...S(StatisticsGroupBy.PolicyRule, false), target: statTarget },
    { name: "statistics PolicyRule, time_series", ...S(StatisticsGroupBy.PolicyRule, true), target: big ? "p99 ≤ 200 ms" : undefined },
  );
  return out;
}

/** p99 against a "p99 ≤ X ms" target. */
function verdict(target: string | undefined, p99: number): string | undefined {
  if (!target) return undefined;
  const limit = Number(/≤ (\d+)/.exec(target)![1]);
  return `${target}: ${p99 <= limit ? "met" : "NOT met"}`;
}

/** Builds a steady ring of `keys` keys (20 active buckets each) and measures every query case. */
export async function benchQueriesOn(ring: SteadyRing, label: string, iterations: number, big: boolean, only: (name: string) => boolean = () => true): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const s = ring.agg.store;
  const shape = `${s.keyCount} keys, ${s.series.size} key-buckets`;
  for (const c of cases(ring.agg, true, big).filter((c) => only(c.name))) {
    const ms = await timeIt(c.run, iterations, Math.max(3, iterations / 10));
    const p50 = percentile(ms, 50);
    const p99 = percentile(ms, 99);
    const note = `p50 ${p50.toFixed(2)} ms; ${await c.size()}; ${iterations} runs; ${shape}`;
    rows.push({ name: `query/${label} ${c.name} p99`, value: p99, unit: "ms", target: verdict(c.target, p99), note });
  }
  return rows;
}

/** A steady ring of `keys` keys, each active in 20 consecutive buckets, spread over the hour. */
export function buildSteadyRing(keys: number): SteadyRing & { buildMs: number } {
  const t0 = performance.now();
  const ring = steadyRing(encodedKeys(keys), 20);
  ring.steady();
  return Object.assign(ring, { buildMs: performance.now() - t0 });
}
