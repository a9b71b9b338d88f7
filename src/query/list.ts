import { compareUtf8 } from "../model/compare.js";
import { COUNTERS, type FlowKeyModel, type FlowRow } from "../model/flow.js";
import type { FlowStore } from "../storage/flow-store.js";
import { NONE } from "../storage/flow-series.js";
import { intersectSorted } from "../storage/label-sets.js";
import type { KeyPredicate } from "./filter.js";
import { pageBounds, pageMeta, type PageMeta, type PageSpec } from "./paging.js";
import { wholeBuckets, type TimeRange } from "./time-range.js";
import { topK } from "./top-k.js";

/** The sort orders List supports (goldmane-spec §4.4). */
export type ListSort = "time" | "sourceName" | "sourceNamespace" | "destName" | "destNamespace";

/** A validated List request. */
export interface ListQuery {
  readonly range: TimeRange;
  readonly filter: KeyPredicate;
  readonly sort: ListSort;
  readonly page: PageSpec;
  /** 0 = one row per key over the range; k·W = one row per key per k·W-aligned window. */
  readonly intervalSec: number;
}

/** The answer of List. */
export interface ListAnswer {
  readonly rows: FlowRow[];
  readonly meta: PageMeta;
}

const sortField: Record<Exclude<ListSort, "time">, (k: FlowKeyModel) => string> = {
  sourceName: (k) => k.sourceName,
  sourceNamespace: (k) => k.sourceNamespace,
  destName: (k) => k.destName,
  destNamespace: (k) => k.destNamespace,
};

/**
 * Flows.List over the store (goldmane-spec §4, DESIGN §4):
 * - a key is returned only if it has data in a bucket lying wholly inside the range, and only
 *   those buckets contribute (no zero rows);
 * - rows are start_time desc then id desc, or name asc then id asc (then start desc);
 * - only the requested page is aggregated; totals are always exact.
 */
export function listFlows(store: FlowStore, q: ListQuery): ListAnswer {
  const W = store.windowSec;
  const { first, last } = wholeBuckets(q.range, W);
  const keys = store.keys;
  const s = store.series;
  // Candidate rows: key slot, and the start of the row's first window / its group.
  const slots: number[] = [];
  const starts: number[] = [];
  const groups: number[] = [];
  if (first <= last) {
    const I = q.intervalSec;
    for (let slot = 0; slot < keys.slotLimit; slot++) {
      const key = keys.keys[slot];
      if (key === undefined) continue;
      const oldest = keys.oldest[slot]!;
      if (s.start[oldest]! > last || s.start[keys.newest[slot]!]! < first) continue;
      // The key's oldest window inside the range.
      let r: number;
      if (s.start[oldest]! >= first) r = oldest;
      else {
        r = keys.newest[slot]!;
        while (s.prev[r] !== NONE && s.start[s.prev[r]!]! >= first) r = s.prev[r]!;
      }
      if (s.start[r]! > last) continue;
      if (!q.filter(key)) continue;
      if (I === 0) {
        slots.push(slot);
        starts.push(s.start[r]!);
        groups.push(0);
        continue;
      }
      // One row per k·W-aligned group that holds at least one window of the range.
      let group = Number.NaN;
      for (; r !== NONE && s.start[r]! <= last; r = s.next[r]!) {
        const g = Math.floor(s.start[r]! / I) * I;
        if (g === group) continue;
        group = g;
        slots.push(slot);
        starts.push(Math.max(g, first));
        groups.push(g);
      }
    }
  }

  const n = slots.length;
  const ids = slots.map((slot) => keys.ids[slot]!);
  let less: (a: number, b: number) => boolean;
  if (q.sort === "time") {
    less = (a, b) => starts[a]! > starts[b]! || (starts[a] === starts[b] && ids[a]! > ids[b]!);
  } else {
    // Rank the distinct names once, so the sort compares numbers (names are interned and few).
    const field = sortField[q.sort];
    const names = slots.map((slot) => field(keys.keys[slot]!));
    const distinct = [...new Set(names)].sort(compareUtf8);
    const rankOf = new Map(distinct.map((v, i) => [v, i]));
    const rank = names.map((v) => rankOf.get(v)!);
    less = (a, b) =>
      rank[a]! < rank[b]! ||
      (rank[a] === rank[b] && (ids[a]! < ids[b]! || (ids[a] === ids[b] && starts[a]! > starts[b]!)));
  }
  const { from, to } = pageBounds(n, q.page);
  const order = topK(n, to, less).slice(from, to);
  const I = q.intervalSec;
  const rows = order.map((i) =>
    I === 0
      ? aggregateRow(store, slots[i]!, first, last, 0)
      : aggregateRow(store, slots[i]!, Math.max(first, groups[i]!), Math.min(last, groups[i]! + I - W), I),
  );
  return { rows, meta: pageMeta(n, q.page) };
}

/** Sums one key's windows with starts in [from, to] into a row (labels: strict intersection). */
function aggregateRow(store: FlowStore, slot: number, from: number, to: number, intervalSec: number): FlowRow {
  const s = store.series;
  const keys = store.keys;
  const W = store.windowSec;
  const counters = new Array<number>(COUNTERS).fill(0);
  let src: readonly string[] | null = null;
  let dst: readonly string[] | null = null;
  let minStart = Number.POSITIVE_INFINITY;
  let maxStart = Number.NEGATIVE_INFINITY;
  for (let r = keys.newest[slot]!; r !== NONE && s.start[r]! >= from; r = s.prev[r]!) {
    const st = s.start[r]!;
    if (st > to) continue;
    if (st < minStart) minStart = st;
    if (st > maxStart) maxStart = st;
    const base = r * COUNTERS;
    for (let i = 0; i < COUNTERS; i++) counters[i]! += s.counters[base + i]!;
    const rs = store.labels.values(s.sourceLabels[r]!);
    const rd = store.labels.values(s.destLabels[r]!);
    src = src === null ? rs : intersectSorted(src, rs);
    dst = dst === null ? rd : intersectSorted(dst, rd);
  }
  // interval 0: min start / max end of the windows used (spec §1.6); k·W: the aligned group,
  // clipped to the whole buckets of the range.
  const startSec = intervalSec === 0 ? minStart : from;
  const endSec = intervalSec === 0 ? maxStart + W : to + W;
  return { id: keys.ids[slot]!, key: keys.keys[slot]!, startSec, endSec, sourceLabels: src ?? [], destLabels: dst ?? [], counters };
}
