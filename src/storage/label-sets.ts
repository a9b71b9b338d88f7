import { compareUtf8 } from "../model/compare.js";
import { StringPool } from "./string-pool.js";

/** The id of the empty label set; never freed. */
export const EMPTY_LABELS = 0;

interface LabelSet {
  readonly values: readonly string[];
  readonly hash: number;
  refs: number;
}

const MEMO_LIMIT = 1 << 14;

/** FNV-1a over the values (with a separator between them): the index key of a sorted set. */
function hashValues(values: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    for (let i = 0; i < v.length; i++) h = Math.imul(h ^ v.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xffff, 0x01000193);
  }
  // A signed 32-bit value is a small integer to V8 (no heap number per set or Map key).
  return h | 0;
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Interned label sets. A set is stored once, sorted byte-wise and de-duplicated (Goldmane returns
 * labels sorted, goldmane-spec §2.4), and referenced by a small integer id from every window that
 * carries it. Ids are reference-counted by the windows and never reused, so memo tables can check
 * staleness by looking the id up.
 *
 * Memory (DESIGN §5): label strings are pooled (the same `app=…` appears in many sets) and sets
 * are indexed by a hash of their values, verified on lookup, rather than by a canonical string
 * that would repeat every label once more.
 */
export class LabelSets {
  private readonly byId = new Map<number, LabelSet>();
  /** Hash of a set's values → the ids with that hash (almost always one). */
  private readonly byHash = new Map<number, number | number[]>();
  private readonly strings = new StringPool();
  /** Raw (as received, unsorted) label lists → id: agents resend identical lists, so this hits. */
  private readonly byRaw = new Map<string, number>();
  private readonly intersections = new Map<string, number>();
  private nextId = 1;
  /** Sets created since the last sweep (candidates for it). */
  private unreferenced: number[] = [];

  constructor() {
    this.byId.set(EMPTY_LABELS, { values: [], hash: hashValues([]), refs: Number.POSITIVE_INFINITY });
  }

  /** Looks up or creates the set for a received label list (does not take a reference). */
  intern(labels: readonly string[]): number {
    if (labels.length === 0) return EMPTY_LABELS;
    const raw = JSON.stringify(labels);
    const cached = this.byRaw.get(raw);
    if (cached !== undefined && this.byId.has(cached)) return cached;
    const values = [...new Set(labels)].sort(compareUtf8);
    const id = this.internSorted(values);
    if (this.byRaw.size >= MEMO_LIMIT) this.byRaw.clear();
    this.byRaw.set(raw, id);
    return id;
  }

  private find(values: readonly string[], hash: number): number | undefined {
    const at = this.byHash.get(hash);
    if (at === undefined) return undefined;
    for (const id of typeof at === "number" ? [at] : at) {
      if (sameValues(this.byId.get(id)!.values, values)) return id;
    }
    return undefined;
  }

  private internSorted(values: string[]): number {
    if (values.length === 0) return EMPTY_LABELS;
    const hash = hashValues(values);
    const existing = this.find(values, hash);
    if (existing !== undefined) return existing;
    const id = this.nextId++;
    const pooled = Object.freeze(values.map((v) => this.strings.acquire(v)));
    this.byId.set(id, { values: pooled, hash, refs: 0 });
    const at = this.byHash.get(hash);
    this.byHash.set(hash, at === undefined ? id : typeof at === "number" ? [at, id] : [...at, id]);
    // Not referenced yet: the next sweep forgets it unless a window takes it by then.
    this.unreferenced.push(id);
    return id;
  }

  private forget(id: number, set: LabelSet): void {
    this.byId.delete(id);
    const at = this.byHash.get(set.hash);
    if (at === id || at === undefined) this.byHash.delete(set.hash);
    else if (typeof at !== "number") {
      const rest = at.filter((x) => x !== id);
      this.byHash.set(set.hash, rest.length === 1 ? rest[0]! : rest);
    }
    for (const v of set.values) this.strings.release(v);
  }

  /** Whether a set id still exists (memo entries may outlive the sets they point to). */
  alive(id: number): boolean {
    return this.byId.has(id);
  }

  /** The sorted labels of a set. */
  values(id: number): readonly string[] {
    return this.byId.get(id)?.values ?? [];
  }

  /** Takes a reference on a set (a window now points at it). */
  ref(id: number): void {
    const s = this.byId.get(id);
    if (s) s.refs++;
  }

  /** Drops a reference; an unreferenced set is forgotten. */
  unref(id: number): void {
    if (id === EMPTY_LABELS) return;
    const s = this.byId.get(id);
    if (!s) return;
    if (--s.refs <= 0) this.forget(id, s);
  }

  /** The interned intersection of two sets (memoised; does not take a reference). */
  intersect(a: number, b: number): number {
    if (a === b) return a;
    if (a === EMPTY_LABELS || b === EMPTY_LABELS) return EMPTY_LABELS;
    // Ids grow without bound (never reused), so the pair is keyed exactly, not packed arithmetically.
    const memoKey = a < b ? `${a},${b}` : `${b},${a}`;
    const memo = this.intersections.get(memoKey);
    if (memo !== undefined && this.byId.has(memo)) return memo;
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
      const s = this.byId.get(id);
      if (s !== undefined && s.refs <= 0) this.forget(id, s);
    }
  }

  /** Number of live sets (for tests and metrics). */
  get size(): number {
    return this.byId.size;
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
