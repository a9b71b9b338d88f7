import { compareUtf8 } from "../model/compare.js";
import { SlotIndex } from "./slot-index.js";
import { grown } from "./grown.js";

/** The id of the empty label set; never freed. */
export const EMPTY_LABELS = 0;

const MEMO_LIMIT = 1 << 14;

/** The values of the empty set (shared). */
const NO_VALUES: readonly string[] = Object.freeze([]);

/** FNV-1a over the values (with a separator between them): the index key of a sorted set. */
function hashValues(values: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    for (let i = 0; i < v.length; i++) h = Math.imul(h ^ v.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xffff, 0x01000193);
  }
  return h | 0;
}

/** Spreads consecutive ids over the id index (a Fibonacci hash). */
function mixId(id: number): number {
  return Math.imul(id, 0x9e3779b1) ^ (id >>> 16);
}

/**
 * Interned label sets. A set is stored once, sorted byte-wise and de-duplicated (Goldmane returns
 * labels sorted, goldmane-spec §2.4), and referenced by a small integer id from every window that
 * carries it. Ids are reference-counted by the windows and never reused, so memo tables can check
 * staleness by looking the id up.
 *
 * Memory (DESIGN §3, issue 15): a distinct label string is stored once and named by a small id;
 * a set is a run of those ids in one shared `Int32Array` plus a few typed-array entries in a reused
 * slot (id, hash, references, where its run is), found by id and by the hash of its values through
 * two {@link SlotIndex}es (verified on lookup) — no object, array or Map entry per set.
 * {@link values} builds the (frozen) string array on each call.
 */
export class LabelSets {
  /** Per slot: where its label ids are in {@link runs}, and how many. */
  private setStart = new Int32Array(0);
  private setLen = new Int32Array(0);
  /** Per slot: the set's id (0 = free slot: the empty set has no slot). */
  private setId = new Int32Array(0);
  private setHash = new Int32Array(0);
  private setRefs = new Int32Array(0);
  private freeSlots: number[] = [];
  private high = 0;
  private readonly byId = new SlotIndex((slot) => mixId(this.setId[slot]!));
  private readonly byHash = new SlotIndex((slot) => this.setHash[slot]!);
  /** Label string ids (reference-counted by the sets holding them). */
  private readonly labelId = new Map<string, number>();
  private labelStr: string[] = [];
  private labelRefs: number[] = [];
  private freeLabels: number[] = [];
  /** The sets' label ids, run after run; {@link runsGarbage} of them belong to forgotten sets. */
  private runs = new Int32Array(1024);
  private runsEnd = 0;
  private runsGarbage = 0;
  /** Raw (as received, unsorted) label lists → id: agents resend identical lists, so this hits. */
  private readonly byRaw = new Map<string, number>();
  private readonly intersections = new Map<string, number>();
  private nextId = 1;
  /** Sets created since the last sweep (candidates for it). */
  private unreferenced: number[] = [];

  /** Looks up or creates the set for a received label list (does not take a reference). */
  intern(labels: readonly string[]): number {
    if (labels.length === 0) return EMPTY_LABELS;
    const raw = JSON.stringify(labels);
    const cached = this.byRaw.get(raw);
    if (cached !== undefined && this.alive(cached)) return cached;
    const values = [...new Set(labels)].sort(compareUtf8);
    const id = this.internSorted(values);
    if (this.byRaw.size >= MEMO_LIMIT) this.byRaw.clear();
    this.byRaw.set(raw, id);
    return id;
  }

  /** The slot of a live set id, or -1 (the empty set has none). */
  private slotOf(id: number): number {
    const t = this.byId.table;
    const mask = t.length - 1;
    for (let i = mixId(id) & mask; ; i = (i + 1) & mask) {
      const e = t[i]!;
      if (e === 0) return -1;
      if (this.setId[e - 1] === id) return e - 1;
    }
  }

  private find(values: readonly string[], hash: number): number | undefined {
    const t = this.byHash.table;
    const mask = t.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const e = t[i]!;
      if (e === 0) return undefined;
      const slot = e - 1;
      if (this.setHash[slot] === hash && this.holds(slot, values)) return this.setId[slot]!;
    }
  }

  private internSorted(values: string[]): number {
    if (values.length === 0) return EMPTY_LABELS;
    const hash = hashValues(values);
    const existing = this.find(values, hash);
    if (existing !== undefined) return existing;
    const id = this.nextId++;
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.high === this.setId.length) this.grow();
      slot = this.high++;
    }
    if (this.runsEnd + values.length > this.runs.length) this.compactRuns(values.length);
    const start = this.runsEnd;
    for (let i = 0; i < values.length; i++) this.runs[start + i] = this.acquireLabel(values[i]!);
    this.runsEnd += values.length;
    this.setStart[slot] = start;
    this.setLen[slot] = values.length;
    this.setId[slot] = id;
    this.setHash[slot] = hash;
    this.setRefs[slot] = 0;
    this.byId.insert(slot);
    this.byHash.insert(slot);
    // Not referenced yet: the next sweep forgets it unless a window takes it by then.
    this.unreferenced.push(id);
    return id;
  }

  private grow(): void {
    const cap = Math.max(256, 2 * this.setId.length);
    this.setId = grown(this.setId, cap);
    this.setHash = grown(this.setHash, cap);
    this.setRefs = grown(this.setRefs, cap);
    this.setStart = grown(this.setStart, cap);
    this.setLen = grown(this.setLen, cap);
  }

  /** Whether the set in `slot` is exactly `values`. */
  private holds(slot: number, values: readonly string[]): boolean {
    const n = this.setLen[slot]!;
    if (n !== values.length) return false;
    const start = this.setStart[slot]!;
    for (let i = 0; i < n; i++) if (this.labelStr[this.runs[start + i]!] !== values[i]) return false;
    return true;
  }

  private acquireLabel(v: string): number {
    let l = this.labelId.get(v);
    if (l === undefined) {
      l = this.freeLabels.pop() ?? this.labelStr.length;
      this.labelStr[l] = v;
      this.labelRefs[l] = 0;
      this.labelId.set(v, l);
    }
    this.labelRefs[l]!++;
    return l;
  }

  private releaseLabel(l: number): void {
    if (--this.labelRefs[l]! > 0) return;
    this.labelId.delete(this.labelStr[l]!);
    this.labelStr[l] = "";
    this.freeLabels.push(l);
  }

  /**
   * Makes room for `need` more label ids: copies the live runs into a new array, twice as large
   * when less than half of the old one was garbage (amortised O(1) per set).
   */
  private compactRuns(need: number): void {
    const live = this.runsEnd - this.runsGarbage;
    const cap = this.runsGarbage * 2 >= this.runsEnd ? Math.max(1024, 2 * (live + need)) : Math.max(1024, 2 * this.runs.length, 2 * (live + need));
    const next = new Int32Array(cap);
    let end = 0;
    for (let slot = 0; slot < this.high; slot++) {
      if (this.setId[slot] === 0) continue;
      const start = this.setStart[slot]!;
      const n = this.setLen[slot]!;
      next.set(this.runs.subarray(start, start + n), end);
      this.setStart[slot] = end;
      end += n;
    }
    this.runs = next;
    this.runsEnd = end;
    this.runsGarbage = 0;
  }

  /**
   * How many sets were forgotten so far. A caller that saw a set alive when this count was N knows
   * it is still alive while the count is N (ids are never reused): the fast lane's memo checks
   * liveness once per forgetting (a rollover), not once per update.
   */
  get forgotten(): number {
    return this.forgottenCount;
  }

  private forgottenCount = 0;

  private forget(slot: number): void {
    this.forgottenCount++;
    this.byId.remove(slot);
    this.byHash.remove(slot);
    const start = this.setStart[slot]!;
    const n = this.setLen[slot]!;
    for (let i = start; i < start + n; i++) this.releaseLabel(this.runs[i]!);
    this.runsGarbage += n;
    this.setLen[slot] = 0;
    this.setId[slot] = 0;
    this.freeSlots.push(slot);
  }

  /** Whether a set id still exists (memo entries may outlive the sets they point to). */
  alive(id: number): boolean {
    return id === EMPTY_LABELS || this.slotOf(id) >= 0;
  }

  /** The sorted labels of a set. */
  values(id: number): readonly string[] {
    if (id === EMPTY_LABELS) return NO_VALUES;
    const slot = this.slotOf(id);
    if (slot < 0) return NO_VALUES;
    const start = this.setStart[slot]!;
    const n = this.setLen[slot]!;
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.labelStr[this.runs[start + i]!]!;
    return Object.freeze(out);
  }

  /** Takes a reference on a set (a window now points at it). */
  ref(id: number): void {
    if (id === EMPTY_LABELS) return;
    const slot = this.slotOf(id);
    if (slot >= 0) this.setRefs[slot]!++;
  }

  /** Drops a reference; an unreferenced set is forgotten. */
  unref(id: number): void {
    if (id === EMPTY_LABELS) return;
    const slot = this.slotOf(id);
    if (slot < 0) return;
    if (--this.setRefs[slot]! <= 0) this.forget(slot);
  }

  /** The interned intersection of two sets (memoised; does not take a reference). */
  intersect(a: number, b: number): number {
    if (a === b) return a;
    if (a === EMPTY_LABELS || b === EMPTY_LABELS) return EMPTY_LABELS;
    // Ids grow without bound (never reused), so the pair is keyed exactly, not packed arithmetically.
    const memoKey = a < b ? `${a},${b}` : `${b},${a}`;
    const memo = this.intersections.get(memoKey);
    if (memo !== undefined && this.alive(memo)) return memo;
    const id = this.internSorted(intersectSorted(this.values(a), this.values(b)));
    if (this.intersections.size >= MEMO_LIMIT) this.intersections.clear();
    this.intersections.set(memoKey, id);
    return id;
  }

  /**
   * Forgets sets that no window references (interned for a flow that was then not stored, or an
   * intermediate intersection). Called once per rollover; O(sets created since the last one).
   */
  sweep(): void {
    // Only sets created since the last sweep can be unreferenced (a set whose last reference
    // goes is deleted by unref at once), so this is O(new sets), not O(all sets).
    const ids = this.unreferenced;
    this.unreferenced = [];
    for (const id of ids) {
      const slot = this.slotOf(id);
      if (slot >= 0 && this.setRefs[slot]! <= 0) this.forget(slot);
    }
  }

  /** Number of live sets, the empty set included (for tests and metrics). */
  get size(): number {
    return this.byId.size + 1;
  }
}

/** Intersection of two byte-wise sorted, de-duplicated lists (a new sorted list). */
export function intersectSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareUtf8(a[i]!, b[j]!);
    if (c === 0) {
      out.push(a[i]!);
      i++;
      j++;
    } else if (c < 0) i++;
    else j++;
  }
  return out;
}
