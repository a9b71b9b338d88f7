import { Code, ConnectError } from "@connectrpc/connect";
import { SortBy, StatisticsGroupBy, StatisticType, type FlowResult, type StatisticsResult } from "../gen/goldmane/api_pb.js";
import { createApi, getToken, setToken } from "./api.js";
import { lineChart, seriesOf } from "./chart.js";
import { renderDetails } from "./details.js";
import { byId, h } from "./dom.js";
import { createFilterBar, emptyFilterState, toFilter } from "./filters.js";
import { formatCount, policyLabel } from "./format.js";
import { compareRows, renderBody, renderHead, rowKey } from "./table.js";
import "./styles.css";

/** Seconds of history a live stream starts with (Whisker clamps to an hour, goldmane-spec §11b). */
const LIVE_BACKFILL_SEC = 900;
/** Rows kept in the live buffer; the oldest arrivals are dropped beyond it. */
const LIVE_MAX_ROWS = 20_000;
const RECONNECT_MS = 3000;

const api = createApi(window.location.origin);

const state = {
  /** "live" streams; otherwise seconds back from the server's now, or "all". */
  range: "live" as string,
  sort: SortBy.Time,
  page: 0,
  pageSize: 50,
  filter: emptyFilterState(),
  selected: null as FlowResult | null,
};

const live = new Map<string, FlowResult>();
const fresh = new Set<string>();
let listRows: FlowResult[] = [];
let listTotal = { pages: 0, results: 0 };
let loadAbort: AbortController | null = null;

const statusEl = byId("status");
const tbody = byId("flows-body");
const head = byId("flows-head");
const pageInfo = byId("page-info");
const details = byId("details");

function setStatus(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", error);
}

/** One line for an RPC error, with a hint when the server wants a session token. */
function showError(e: unknown): void {
  const err = ConnectError.from(e);
  const hint = err.code === Code.Unauthenticated || err.code === Code.PermissionDenied ? " (set a session token above)" : "";
  setStatus(`error: ${Code[err.code]}: ${err.rawMessage}${hint}`, true);
}

function isLive(): boolean {
  return state.range === "live";
}

/** A datetime-local value (read as UTC) → Unix seconds, or 0n when empty or invalid. */
function dateInput(id: string): bigint {
  const v = byId<HTMLInputElement>(id).value;
  const ms = v === "" ? Number.NaN : Date.parse(`${v}Z`);
  return Number.isNaN(ms) ? 0n : BigInt(Math.floor(ms / 1000));
}

/**
 * Seconds back → start_time_gte relative to the server's clock (negative), 0 for all, or the
 * custom "from" date. Ranges older than the hour in memory are answered from the server's
 * PostgreSQL history when it has one (README "History (PostgreSQL)").
 */
function rangeStart(): bigint {
  if (state.range === "custom") return dateInput("range-since");
  return state.range === "all" || isLive() ? 0n : -BigInt(state.range);
}

/** start_time_lt: the custom "to" date, else 0 (now). */
function rangeEnd(): bigint {
  return state.range === "custom" ? dateInput("range-until") : 0n;
}

/** The resolution header of an answer (seconds), as text for the user. */
const RESOLUTION_HEADER = "tributary-resolution";
function resolutionText(sec: string | null): string {
  if (!sec) return "";
  const n = Number(sec);
  const unit = n % 3600 === 0 ? `${n / 3600} h` : n % 60 === 0 ? `${n / 60} min` : `${n} s`;
  return `resolution ${unit}`;
}

let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render(): void {
  renderHead(head, state.sort, (s) => {
    state.sort = s;
    state.page = 0;
    if (isLive()) render();
    else reload();
  });
  let rows: FlowResult[];
  let pages: number;
  let total: number;
  if (isLive()) {
    const all = [...live.values()].sort(compareRows(state.sort));
    total = all.length;
    pages = Math.max(1, Math.ceil(total / state.pageSize));
    state.page = Math.min(state.page, pages - 1);
    rows = all.slice(state.page * state.pageSize, (state.page + 1) * state.pageSize);
  } else {
    rows = listRows;
    total = listTotal.results;
    pages = Math.max(1, listTotal.pages);
  }
  const sel = state.selected ? rowKey(state.selected) : null;
  renderBody(tbody, rows, sel, fresh, select, isLive() ? "waiting for flows…" : "no flows in this range");
  fresh.clear();
  pageInfo.textContent = `Page ${state.page + 1} of ${pages} · ${formatCount(total)} flows`;
  byId<HTMLButtonElement>("prev").disabled = state.page === 0;
  byId<HTMLButtonElement>("next").disabled = state.page + 1 >= pages;
}

function select(r: FlowResult): void {
  state.selected = r;
  renderDetails(details, r, () => {
    state.selected = null;
    details.hidden = true;
    render();
  });
  render();
}

/** Flows/Stream: backfill, then one batch per rollover; reconnects after an error or an end. */
async function runStream(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    setStatus("live: connecting…");
    try {
      const stream = api.flows.stream({ startTimeGte: -BigInt(LIVE_BACKFILL_SEC), filter: toFilter(state.filter) }, { signal });
      setStatus("live");
      for await (const r of stream) {
        const key = rowKey(r);
        live.delete(key); // re-insert: Map order is arrival order, for the buffer's eviction
        live.set(key, r);
        fresh.add(key);
        if (live.size > LIVE_MAX_ROWS) live.delete(live.keys().next().value!);
        setStatus(`live · ${formatCount(live.size)} flows`);
        scheduleRender();
      }
    } catch (e) {
      if (signal.aborted) return;
      showError(e);
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}

/** Flows/List for the chosen range, sort and page (server-side paging). */
async function runList(signal: AbortSignal): Promise<void> {
  setStatus("loading…");
  let resolution: string | null = null;
  try {
    const res = await api.flows.list(
      { startTimeGte: rangeStart(), startTimeLt: rangeEnd(), page: BigInt(state.page), pageSize: BigInt(state.pageSize), sortBy: [{ sortBy: state.sort }], filter: toFilter(state.filter) },
      { signal, onHeader: (hd) => (resolution = hd.get(RESOLUTION_HEADER)) },
    );
    if (signal.aborted) return;
    listRows = res.flows;
    listTotal = { pages: Number(res.meta?.totalPages ?? 0n), results: Number(res.meta?.totalResults ?? 0n) };
    const res2 = resolutionText(resolution);
    setStatus(`${formatCount(listTotal.results)} flows${res2 ? ` · ${res2}` : ""}`);
    render();
  } catch (e) {
    if (!signal.aborted) showError(e);
  }
}

/** Restarts the data source after a change of range, filter, sort or page. */
function reload(): void {
  loadAbort?.abort();
  loadAbort = new AbortController();
  if (isLive()) {
    live.clear();
    render();
    void runStream(loadAbort.signal);
  } else {
    void runList(loadAbort.signal);
  }
  if (!byId("chart-panel").hidden) void loadChart();
}

// ---- policy chart (Statistics/List, time series) ----

let chartResults: StatisticsResult[] = [];
/** The resolution the server used for the chart's series (its points are that far apart). */
let chartResolution: string | null = null;
let chartAbort: AbortController | null = null;

function chartKey(r: StatisticsResult): string {
  const p = r.policy;
  return p ? `${p.kind}|${p.tier}|${p.namespace}|${p.name}` : "";
}

async function loadChart(): Promise<void> {
  chartAbort?.abort();
  chartAbort = new AbortController();
  const signal = chartAbort.signal;
  const bytes = byId<HTMLSelectElement>("chart-type").value === "bytes";
  const box = byId("chart");
  box.replaceChildren(h("p", { class: "muted" }, "loading…"));
  // A live view charts the whole history the server keeps; a range charts that range, or the
  // whole history when the range reaches past it (Statistics rejects a range with no bucket).
  const fetchAll = async (start: bigint) => {
    const results: StatisticsResult[] = [];
    for await (const r of api.statistics.list(
      { startTimeGte: start, startTimeLt: start === 0n ? 0n : rangeEnd(), type: bytes ? StatisticType.ByteCount : StatisticType.PacketCount, groupBy: StatisticsGroupBy.Policy, timeSeries: true },
      { signal, onHeader: (hd) => (chartResolution = hd.get(RESOLUTION_HEADER)) },
    )) results.push(r);
    return results;
  };
  try {
    const start = rangeStart();
    let results: StatisticsResult[];
    try {
      results = await fetchAll(start);
    } catch (e) {
      if (start === 0n || ConnectError.from(e).code !== Code.InvalidArgument) throw e;
      results = await fetchAll(0n);
    }
    if (signal.aborted) return;
    chartResults = results;
    byId("chart-resolution").textContent = chartResolution ? `Points are ${resolutionText(chartResolution).replace("resolution ", "")} buckets (the resolution the server used for this range).` : "";
    const sel = byId<HTMLSelectElement>("chart-policy");
    const previous = sel.value;
    sel.replaceChildren(...results.map((r) => h("option", { value: chartKey(r) }, r.policy ? policyLabel(r.policy) : "?")));
    if (results.some((r) => chartKey(r) === previous)) sel.value = previous;
    drawChart();
  } catch (e) {
    if (signal.aborted) return;
    showError(e);
    box.replaceChildren(h("p", { class: "muted" }, "statistics unavailable"));
  }
}

function drawChart(): void {
  const box = byId("chart");
  const legend = byId("chart-legend");
  const key = byId<HTMLSelectElement>("chart-policy").value;
  const r = chartResults.find((x) => chartKey(x) === key);
  if (!r) {
    box.replaceChildren(h("p", { class: "muted", "data-testid": "chart-empty" }, "no policy statistics in this range"));
    legend.replaceChildren();
    return;
  }
  const unit = byId<HTMLSelectElement>("chart-type").value === "bytes" ? "bytes" : "packets";
  const { x, series } = seriesOf(r);
  box.replaceChildren(lineChart(x, series, unit));
  legend.replaceChildren(
    ...series.map((s) => h("span", { "data-testid": `legend-${s.name}` }, h("span", { class: `swatch ${s.name}` }), `${s.name}: ${formatCount(s.points.reduce((a, b) => a + b, 0))} ${unit}`)),
  );
}

// ---- wiring ----

byId("filters").append(
  createFilterBar({
    api,
    state: state.filter,
    onChange: () => {
      state.page = 0;
      reload();
    },
    onError: showError,
  }),
);

byId<HTMLSelectElement>("range").addEventListener("change", (ev) => {
  state.range = (ev.target as HTMLSelectElement).value;
  byId("custom-range").hidden = state.range !== "custom";
  state.page = 0;
  if (state.range === "custom" && (dateInput("range-since") === 0n || dateInput("range-until") === 0n)) return; // wait for both dates
  reload();
});
for (const id of ["range-since", "range-until"]) {
  byId(id).addEventListener("change", () => {
    if (state.range !== "custom" || dateInput("range-since") === 0n || dateInput("range-until") === 0n) return;
    state.page = 0;
    reload();
  });
}
byId<HTMLSelectElement>("page-size").addEventListener("change", (ev) => {
  state.pageSize = Number((ev.target as HTMLSelectElement).value);
  state.page = 0;
  if (isLive()) render();
  else reload();
});
for (const [id, delta] of [["prev", -1], ["next", 1]] as const) {
  byId(id).addEventListener("click", () => {
    state.page = Math.max(0, state.page + delta);
    if (isLive()) render();
    else reload();
  });
}
byId("chart-toggle").addEventListener("click", () => {
  const panel = byId("chart-panel");
  panel.hidden = !panel.hidden;
  byId("chart-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) void loadChart();
});
byId("chart-type").addEventListener("change", () => void loadChart());
byId("chart-reload").addEventListener("click", () => void loadChart());
byId("chart-policy").addEventListener("change", drawChart);

const tokenInput = byId<HTMLInputElement>("token");
tokenInput.value = getToken();
byId("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  try {
    setToken(tokenInput.value);
    reload();
  } catch (e) {
    setStatus(`error: ${(e as Error).message}`, true);
  }
});
byId("token-clear").addEventListener("click", () => {
  tokenInput.value = "";
  setToken("");
  reload();
});

reload();
