import { Code, ConnectError } from "@connectrpc/connect";
import { SortBy, type Filter, type FlowListRequest, type PolicyMatch, type StringMatch } from "../gen/goldmane/api_pb.js";
import { MatchType } from "../gen/goldmane/api_pb.js";
import { QueryError } from "../query/errors.js";
import { HistoryUnavailableError } from "../query/history-source.js";
import { ANY_STRING, compileFilter, type FilterSpec, type PolicyMatchSpec, type StringMatchSpec } from "../query/filter.js";
import type { ListQuery, ListSort } from "../query/list.js";
import type { PageSpec } from "../query/paging.js";
import { normalizeTimeRange } from "../query/time-range.js";

/** Maps a query-layer error to its gRPC code (the one place that does, STYLE.md §4). */
export function toConnectError(e: unknown): unknown {
  if (e instanceof HistoryUnavailableError) return new ConnectError(e.message, Code.Unavailable);
  if (e instanceof QueryError) return new ConnectError(e.message, e.kind === "not_found" ? Code.NotFound : Code.InvalidArgument);
  return e;
}

/** int64 request fields → number, rejecting values that cannot be represented exactly. */
export function int(field: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new QueryError(field, `out of range, got ${v}`);
  }
  return Number(v);
}

function strings(ms: readonly StringMatch[]): StringMatchSpec[] {
  return ms.map((m) => ({ value: m.value, fuzzy: m.type === MatchType.Fuzzy }));
}

function stringMatch(m: StringMatch | undefined): StringMatchSpec {
  return m === undefined || m.value === "" ? ANY_STRING : { value: m.value, fuzzy: m.type === MatchType.Fuzzy };
}

/** Converts a wire PolicyMatch (absent = match all; absent or empty StringMatch = any value). */
export function policyMatchSpec(m: PolicyMatch | undefined): PolicyMatchSpec {
  return {
    kind: m?.kind ?? 0,
    tier: stringMatch(m?.tier),
    namespace: stringMatch(m?.namespace),
    name: stringMatch(m?.name),
    action: m?.action ?? 0,
  };
}

/** Converts a wire Filter to plain data (absent = match all). */
export function filterSpec(f: Filter | undefined): FilterSpec {
  return {
    sourceNames: strings(f?.sourceNames ?? []),
    sourceNamespaces: strings(f?.sourceNamespaces ?? []),
    destNames: strings(f?.destNames ?? []),
    destNamespaces: strings(f?.destNamespaces ?? []),
    protocols: strings(f?.protocols ?? []),
    destPorts: (f?.destPorts ?? []).map((p, i) => int(`filter.dest_ports[${i}].port`, p.port)),
    actions: f?.actions ?? [],
    policies: (f?.policies ?? []).map(policyMatchSpec),
    reporter: f?.reporter ?? 0,
    pendingActions: f?.pendingActions ?? [],
  };
}

/** Validates page and page_size (negative values are rejected, DESIGN §4). */
export function pageSpec(page: bigint, pageSize: bigint): PageSpec {
  const p = int("page", page);
  const size = int("page_size", pageSize);
  if (p < 0) throw new QueryError("page", `must be >= 0, got ${p}`);
  if (size < 0) throw new QueryError("page_size", `must be >= 0, got ${size}`);
  return { page: p, pageSize: size };
}

const SORTS: Partial<Record<SortBy, ListSort>> = {
  [SortBy.Time]: "time",
  [SortBy.SourceName]: "sourceName",
  [SortBy.SourceNamespace]: "sourceNamespace",
  [SortBy.DestName]: "destName",
  [SortBy.DestNamespace]: "destNamespace",
};

/** Context a request is interpreted in: the clock and the ring's geometry. */
export interface QueryContext {
  nowSec: number;
  oldestStartSec: number;
  windowSec: number;
}

/** Validates a FlowListRequest into a {@link ListQuery} (goldmane-spec §4, DESIGN §4). */
export function parseListRequest(req: FlowListRequest, ctx: QueryContext): ListQuery {
  if (req.sortBy.length > 1) throw new QueryError("sort_by", "at most one sort order is supported");
  let sort: ListSort = "time";
  if (req.sortBy.length === 1) {
    const by = req.sortBy[0]!.sortBy;
    const s = SORTS[by];
    if (!s) throw new QueryError("sort_by", `unsupported sort order: ${SortBy[by] ?? by}`);
    sort = s;
  }
  const page = pageSpec(req.page, req.pageSize);
  const interval = int("aggregation_interval", req.aggregationInterval);
  if (interval < 0 || interval % ctx.windowSec !== 0) {
    throw new QueryError(
      "aggregation_interval",
      `must be 0 or a multiple of the aggregation window (${ctx.windowSec}s), got ${interval}`,
    );
  }
  const range = normalizeTimeRange(
    int("start_time_gte", req.startTimeGte),
    int("start_time_lt", req.startTimeLt),
    ctx.nowSec,
    ctx.oldestStartSec,
  );
  return { range, filter: compileFilter(filterSpec(req.filter)), sort, page, intervalSec: interval };
}
