import { compareUtf8 } from "../model/compare.js";
import { COUNTERS, type FlowKeyModel, type FlowRow } from "../model/flow.js";
import type { FlowStore } from "../storage/flow-store.js";
import type { FlowIpLists } from "../storage/flow-ips.js";
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

/** The answer of List as a page whose rows are aggregated on demand (see {@link listPage}). */
export interface ListPage {
  readonly meta: PageMeta;
  /** Rows in the page. */
  readonly length: number;
  /** Aggregates row `i` of the page (0 ≤ i < length) into `into` and returns it. */
  rowInto(i: number, into: ListRowScratch): FlowRow;
}

/**
 * A row's fields, reused from row to row (no object, counter array or IP object per row); valid
 * until the next {@link ListPage.rowInto} with the same scratch.
 */
export class ListRowScratch implements FlowRow {
  id = 0;
  /** Set by every {@link ListPage.rowInto} before the row is read. */
  key!: FlowKeyModel;
  startSec = 0;
  endSec = 0;
  sourceLabels: readonly string[] = [];
  destLabels: readonly string[] = [];
  readonly counters = new Float64Array(COUNTERS);
  ips: FlowIpLists = { sourceIps: [], destIps: [] };
  get sourceIps(): readonly string[] {
    return this.ips.sourceIps;
  }
  get destIps(): readonly string[] {
    return this.ips.destIps;
  }

  /** A row object of its own with the scratch's values. */
  toRow(): FlowRow {
    const own = (ls: readonly string[]) => (ls === NO_LABELS ? [] : ls);
    return {
      id: this.id,
      key: this.key,
      startSec: this.startSec,
      endSec: this.endSec,
      sourceLabels: own(this.sourceLabels),
      destLabels: own(this.destLabels),
      counters: Array.from(this.counters),
      ...this.ips,
    };
  }
}

const NO_LABELS: readonly string[] = Object.freeze([]);

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
 * - only the requested page is aggregated, one row at a time as the caller asks for it (an
 *   unpaged List is every key: 100 000 rows are encoded as they are summed, never held as objects);
 *   totals are always exact.
 *
 * The page reads the store when a row is asked for: consume it before the store changes (the
 * caller's synchronous turn).
 */
export function listPage(store: FlowStore, q: ListQuery): ListPage {
  const W = store.windowSec;
  const { first, last } = wholeBuckets(q.range, W);
  const keys = store.keys;
  const s = store.series;
  const I = q.intervalSec;
  // Candidate rows in typed columns (no per-row objects): key slot, and the start of the row's
  // first window / its k·W group.
  let cap = Math.max(64, keys.size);
  let cSlot = new Int32Array(cap);
  let cStart = new Float64Array(cap);
  let cGroup = new Float64Array(cap);
  let n = 0;
  const push = (slot: number, start: number, group: number) => {
    if (n === cap) {
      cap *= 2;
      const a = new Int32Array(cap);
      a.set(cSlot);
      cSlot = a;
      const b = new Float64Array(cap);
      b.set(cStart);
      cStart = b;
      const c = new Float64Array(cap);
      c.set(cGroup);
      cGroup = c;
    }
    cSlot[n] = slot;
    cStart[n] = start;
    cGroup[n] = group;
    n++;
  };
  if (first <= last) {
    const limit = keys.slotLimit;
    const table = keys.keys;
    const start = s.start;
    const next = s.next;
    const filter = q.filter;
    for (let slot = 0; slot < limit; slot++) {
      const key = table[slot];
      if (key === undefined) continue;
      // The key's oldest window inside the range (the shared selection rule).
      let r = store.oldestWindowIn(slot, first, last);
      if (r === NONE) continue;
      if (!filter(key)) continue;
      if (I === 0) {
        push(slot, start[r]!, 0);
        continue;
      }
      // One row per k·W-aligned group that holds at least one window of the range.
      let group = Number.NaN;
      for (; r !== NONE && start[r]! <= last; r = next[r]!) {
        const g = Math.floor(start[r]! / I) * I;
        if (g === group) continue;
        group = g;
        push(slot, Math.max(g, first), g);
      }
    }
  }

  // Sort key: a small-integer primary (the bucket, newest first; or the name's rank) and ties
  // broken by id (desc for time, asc for names), then start desc (DESIGN §4).
  const ids = new Float64Array(n);
  for (let i = 0; i < n; i++) ids[i] = keys.ids[cSlot[i]!]!;
  const primary = new Int32Array(n);
  let groups: number;
  let tieLess: (a: number, b: number) => boolean;
  if (q.sort === "time") {
    // Starts are W-aligned bucket starts within [first, last].
    for (let i = 0; i < n; i++) primary[i] = Math.round((last - cStart[i]!) / W);
    groups = Math.max(0, Math.round((last - first) / W) + 1);
    tieLess = (a, b) => ids[a]! > ids[b]!;
  } else {
    // Rank the distinct names once (names are interned and few), so the sort compares numbers.
    const field = sortField[q.sort];
    const index = new Map<string, number>();
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = field(keys.keys[cSlot[i]!]!);
      let t = index.get(v);
      if (t === undefined) {
        t = names.length;
        index.set(v, t);
        names.push(v);
      }
      primary[i] = t;
    }
    const order = names.map((_, t) => t).sort((a, b) => compareUtf8(names[a]!, names[b]!));
    const rankOf = new Int32Array(names.length);
    for (let r = 0; r < order.length; r++) rankOf[order[r]!] = r;
    for (let i = 0; i < n; i++) primary[i] = rankOf[primary[i]!]!;
    groups = names.length;
    tieLess = (a, b) => ids[a]! < ids[b]! || (ids[a] === ids[b] && cStart[a]! > cStart[b]!);
  }
  const { from, to } = pageBounds(n, q.page);
  const page = selectPage(n, primary, groups, from, to, tieLess);
  // A page of most keys (whisker-backend's unpaged List) is summed in one pass over the windows in
  // memory order; following each key's list instead costs several cache misses per window.
  if (I === 0 && page.length >= SCAN_MIN_ROWS && page.length * 4 >= keys.size) {
    const slots = new Int32Array(page.length);
    for (let j = 0; j < page.length; j++) slots[j] = cSlot[page[j]!]!;
    const sums = sumByScan(store, slots, first, last);
    return { meta: pageMeta(n, q.page), length: page.length, rowInto: (j, into) => scannedRow(store, sums, j, first, last, into) };
  }
  return {
    meta: pageMeta(n, q.page),
    length: page.length,
    rowInto: (j, into) => {
      const i = page[j]!;
      return I === 0
        ? aggregateRow(store, cSlot[i]!, first, last, 0, into)
        : aggregateRow(store, cSlot[i]!, Math.max(first, cGroup[i]!), Math.min(last, cGroup[i]! + I - W), I, into);
    },
  };
}

/** Pages from this many rows may be summed by {@link sumByScan} (when they are most keys). */
const SCAN_MIN_ROWS = 2048;
/** A page row whose windows carry more than one label set: its labels are intersected per key. */
const MIXED = -2;

/** The sums of a page's rows (interval 0), by page position. */
interface ScannedSums {
  readonly slots: Int32Array;
  readonly counters: Float64Array;
  readonly minStart: Float64Array;
  readonly maxStart: Float64Array;
  /** The one label set of the row's windows, or {@link MIXED}. */
  readonly sourceLabels: Int32Array;
  readonly destLabels: Int32Array;
}

/**
 * Sums the windows with starts in [first, last] of the keys in `slots` (page order) in one pass
 * over the store's rows in memory order: the same sums as {@link aggregateRow} (integers, so the
 * order of additions does not matter), with each row's label set kept when all its windows share
 * one (nearly always) and marked {@link MIXED} otherwise.
 */
function sumByScan(store: FlowStore, slots: Int32Array, first: number, last: number): ScannedSums {
  const s = store.series;
  const len = slots.length;
  const pageOf = new Int32Array(store.keys.slotLimit).fill(-1);
  for (let j = 0; j < len; j++) pageOf[slots[j]!] = j;
  const counters = new Float64Array(len * COUNTERS);
  const minStart = new Float64Array(len).fill(Number.POSITIVE_INFINITY);
  const maxStart = new Float64Array(len).fill(Number.NEGATIVE_INFINITY);
  const srcOf = new Int32Array(len).fill(NONE);
  const dstOf = new Int32Array(len).fill(NONE);
  const keySlot = s.keySlot;
  const start = s.start;
  const sc = s.counters;
  const srcIds = s.sourceLabels;
  const dstIds = s.destLabels;
  const limit = s.rowLimit;
  for (let r = 0; r < limit; r++) {
    const slot = keySlot[r]!;
    if (slot === NONE) continue;
    const st = start[r]!;
    if (st < first || st > last) continue;
    const j = pageOf[slot]!;
    if (j < 0) continue;
    const base = r * COUNTERS;
    const at = j * COUNTERS;
    for (let i = 0; i < COUNTERS; i++) counters[at + i]! += sc[base + i]!;
    if (st < minStart[j]!) minStart[j] = st;
    if (st > maxStart[j]!) maxStart[j] = st;
    const src = srcIds[r]!;
    const seenSrc = srcOf[j]!;
    if (seenSrc === NONE) srcOf[j] = src;
    else if (seenSrc !== src) srcOf[j] = MIXED;
    const dst = dstIds[r]!;
    const seenDst = dstOf[j]!;
    if (seenDst === NONE) dstOf[j] = dst;
    else if (seenDst !== dst) dstOf[j] = MIXED;
  }
  return { slots, counters, minStart, maxStart, sourceLabels: srcOf, destLabels: dstOf };
}

/** Row `j` of a page summed by {@link sumByScan}, written into `into` as {@link aggregateRow} would. */
function scannedRow(store: FlowStore, sums: ScannedSums, j: number, first: number, last: number, into: ListRowScratch): ListRowScratch {
  const slot = sums.slots[j]!;
  const src = sums.sourceLabels[j]!;
  const dst = sums.destLabels[j]!;
  // Labels that changed between windows: the strict intersection, walked per key (rare).
  if (src === MIXED || dst === MIXED) return aggregateRow(store, slot, first, last, 0, into);
  const counters = into.counters;
  const at = j * COUNTERS;
  for (let i = 0; i < COUNTERS; i++) counters[i] = sums.counters[at + i]!;
  const id = store.keys.ids[slot]!;
  into.id = id;
  into.key = store.keys.keys[slot]!;
  into.startSec = sums.minStart[j]!;
  into.endSec = sums.maxStart[j]! + store.windowSec;
  into.sourceLabels = store.labels.values(src);
  into.destLabels = store.labels.values(dst);
  into.ips = store.ips.between(id, first, last);
  return into;
}


/** {@link listPage} with every row of the page as its own object (JSON answers, snapshots, tests). */
export function listFlows(store: FlowStore, q: ListQuery): ListAnswer {
  const page = listPage(store, q);
  const scratch = new ListRowScratch();
  const rows: FlowRow[] = [];
  for (let i = 0; i < page.length; i++) {
    page.rowInto(i, scratch);
    rows.push(scratch.toRow());
  }
  return { rows, meta: page.meta };
}

/**
 * Positions `[from, to)` of the order (primary asc, then `tieLess`) of `n` items whose primary is
 * a small integer below `groups`. A counting pass finds the primary values the page falls in; only
 * the items of those groups are sorted, so a page costs O(n + g log g) for g items in its groups
 * (DESIGN §5: no full sort to return one page). One group holding nearly everything falls back to
 * a bounded heap.
 */
function selectPage(
  n: number,
  primary: Int32Array,
  groups: number,
  from: number,
  to: number,
  tieLess: (a: number, b: number) => boolean,
): number[] {
  if (from >= to) return [];
  const counts = new Int32Array(groups);
  for (let i = 0; i < n; i++) counts[primary[i]!]!++;
  let before = 0;
  let lo = 0;
  while (before + counts[lo]! <= from) before += counts[lo++]!;
  let hi = lo;
  let upto = before + counts[lo]!;
  while (upto < to) upto += counts[++hi]!;
  const picked: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = primary[i]!;
    if (p >= lo && p <= hi) picked.push(i);
  }
  const less = (a: number, b: number) => primary[a]! < primary[b]! || (primary[a] === primary[b] && tieLess(a, b));
  const k = to - before;
  const sorted = topK(picked.length, k, (x, y) => less(picked[x]!, picked[y]!)).map((x) => picked[x]!);
  return sorted.slice(from - before, k);
}

/** Sums one key's windows with starts in [from, to] into `into` (labels: strict intersection). */
function aggregateRow(store: FlowStore, slot: number, from: number, to: number, intervalSec: number, into: ListRowScratch): ListRowScratch {
  const s = store.series;
  const keys = store.keys;
  const W = store.windowSec;
  const counters = into.counters;
  counters.fill(0);
  const sc = s.counters;
  let src: readonly string[] | null = null;
  let dst: readonly string[] | null = null;
  let minStart = Number.POSITIVE_INFINITY;
  let maxStart = Number.NEGATIVE_INFINITY;
  let lastSrc = -1;
  let lastDst = -1;
  for (let r = keys.newest[slot]!; r !== NONE && s.start[r]! >= from; r = s.prev[r]!) {
    const st = s.start[r]!;
    if (st > to) continue;
    if (st < minStart) minStart = st;
    if (st > maxStart) maxStart = st;
    const base = r * COUNTERS;
    for (let i = 0; i < COUNTERS; i++) counters[i]! += sc[base + i]!;
    // A key's windows mostly share one interned set: intersect only when the id changes.
    const srcId = s.sourceLabels[r]!;
    if (srcId !== lastSrc) {
      const rs = store.labels.values(srcId);
      src = src === null ? rs : intersectSorted(src, rs);
      lastSrc = srcId;
    }
    const dstId = s.destLabels[r]!;
    if (dstId !== lastDst) {
      const rd = store.labels.values(dstId);
      dst = dst === null ? rd : intersectSorted(dst, rd);
      lastDst = dstId;
    }
  }
  // interval 0: min start / max end of the windows used (spec §1.6); k·W: the aligned group,
  // clipped to the whole buckets of the range.
  const startSec = intervalSec === 0 ? minStart : from;
  const endSec = intervalSec === 0 ? maxStart + W : to + W;
  const id = keys.ids[slot]!;
  into.id = id;
  into.key = keys.keys[slot]!;
  into.startSec = startSec;
  into.endSec = endSec;
  into.sourceLabels = src ?? NO_LABELS;
  into.destLabels = dst ?? NO_LABELS;
  // Flow IPs: the union over the same buckets (a side structure, empty unless agents send IPs).
  into.ips = store.ips.between(id, from, to);
  return into;
}
