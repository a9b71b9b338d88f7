import { SortBy, type FlowResult } from "../gen/goldmane/api_pb.js";
import { h } from "./dom.js";
import { actionName, displayName, displayNamespace, formatCount, formatTime, reporterName } from "./format.js";

/** A table column; `sort` marks the columns Flows/List can sort by. */
interface Column {
  label: string;
  sort?: SortBy;
  num?: boolean;
  cell(r: FlowResult): string;
}

const k = (r: FlowResult) => r.flow!.Key!;

export const COLUMNS: Column[] = [
  { label: "Start", sort: SortBy.Time, cell: (r) => formatTime(r.flow!.startTime) },
  { label: "Source namespace", sort: SortBy.SourceNamespace, cell: (r) => displayNamespace(k(r).sourceNamespace) },
  { label: "Source", sort: SortBy.SourceName, cell: (r) => displayName(k(r).sourceName) },
  { label: "Dest namespace", sort: SortBy.DestNamespace, cell: (r) => displayNamespace(k(r).destNamespace) },
  { label: "Dest", sort: SortBy.DestName, cell: (r) => displayName(k(r).destName) },
  { label: "Port", num: true, cell: (r) => String(k(r).destPort) },
  { label: "Proto", cell: (r) => k(r).proto },
  { label: "Action", cell: (r) => actionName(k(r).action) },
  { label: "Reporter", cell: (r) => reporterName(k(r).reporter) },
  { label: "Pkts in", num: true, cell: (r) => formatCount(r.flow!.packetsIn) },
  { label: "Pkts out", num: true, cell: (r) => formatCount(r.flow!.packetsOut) },
  { label: "Bytes in", num: true, cell: (r) => formatCount(r.flow!.bytesIn) },
  { label: "Bytes out", num: true, cell: (r) => formatCount(r.flow!.bytesOut) },
];

/** Stable identity of a row: a stream sends one result per key per window. */
export function rowKey(r: FlowResult): string {
  return `${r.id}:${r.flow?.startTime ?? 0n}`;
}

/**
 * Client-side order for the live buffer, matching the server's List orders: time newest first
 * (ties by id, newest first), names ascending with time as the tie-breaker.
 */
export function compareRows(sort: SortBy): (a: FlowResult, b: FlowResult) => number {
  const byTime = (a: FlowResult, b: FlowResult) => Number(b.flow!.startTime - a.flow!.startTime) || Number(b.id - a.id);
  const field: Partial<Record<SortBy, (r: FlowResult) => string>> = {
    [SortBy.SourceName]: (r) => k(r).sourceName,
    [SortBy.SourceNamespace]: (r) => k(r).sourceNamespace,
    [SortBy.DestName]: (r) => k(r).destName,
    [SortBy.DestNamespace]: (r) => k(r).destNamespace,
  };
  const f = field[sort];
  if (!f) return byTime;
  return (a, b) => f(a).localeCompare(f(b)) || byTime(a, b);
}

/** Renders the header row; sortable headers call `onSort`. */
export function renderHead(tr: HTMLElement, sort: SortBy, onSort: (s: SortBy) => void): void {
  tr.replaceChildren(
    ...COLUMNS.map((c) => {
      const sortable = c.sort !== undefined;
      const th = h("th", {
        class: sortable ? "sortable" : undefined,
        scope: "col",
        "aria-sort": sortable && c.sort === sort ? (sort === SortBy.Time ? "descending" : "ascending") : undefined,
        "data-sort": sortable ? String(c.sort) : undefined,
      }, c.label);
      if (sortable) th.addEventListener("click", () => onSort(c.sort!));
      return th;
    }),
  );
}

/** Renders the body rows; `fresh` rows (just arrived on the stream) are highlighted briefly. */
export function renderBody(tbody: HTMLElement, rows: FlowResult[], selected: string | null, fresh: Set<string>, onSelect: (r: FlowResult) => void, empty: string): void {
  if (rows.length === 0) {
    tbody.replaceChildren(h("tr", {}, h("td", { class: "empty", colspan: COLUMNS.length }, empty)));
    return;
  }
  tbody.replaceChildren(
    ...rows.map((r) => {
      const key = rowKey(r);
      const tr = h("tr", {
        "data-testid": "flow-row",
        "data-key": key,
        "data-source": k(r).sourceName,
        "data-dest": k(r).destName,
        class: [key === selected ? "selected" : "", fresh.has(key) ? "fresh" : ""].join(" ").trim() || undefined,
      }, ...COLUMNS.map((c) => {
        const text = c.cell(r);
        return h("td", { class: c.num ? "num" : c.label === "Action" ? `action-${text}` : undefined }, text);
      }));
      tr.addEventListener("click", () => onSelect(r));
      return tr;
    }),
  );
}
