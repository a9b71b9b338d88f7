import { compareUtf8 } from "../model/compare.js";

/** The id of the empty label set; never freed. */
export const EMPTY_LABELS = 0;

interface LabelSet {
  readonly values: readonly string[];
  readonly canonical: string;
  refs: number;
}

const MEMO_LIMIT = 1 << 16;

/**
 * Interned label sets. A set is stored once, sorted byte-wise and de-duplicated (Goldmane returns
 * labels sorted, goldmane-spec §2.4), and referenced by a small integer id from every window that
 * carries it. Ids are reference-counted by the windows and never reused, so memo tables can check
 * staleness by looking the id up.
 */
export class LabelSets {
  private readonly byId = new Map<number, LabelSet>();
  private readonly byCanonical = new Map<string, number>();
  /** Raw (as received, unsorted) label lists → id: agents resend identical lists, so this hits. */
  private readonly byRaw = new Map<string, number>();
  private readonly intersections = new Map<string, number>();
  private nextId = 1;
  /** Sets created since the last sweep (candidates for it). */
  private unreferenced: number[] = [];

  constructor() {
    this.byId.set(EMPTY_LABELS, { values: [], canonical: "[]", refs: Number.POSITIVE_INFINITY });
    this.byCanonical.set("[]", EMPTY_LABELS);
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

  private internSorted(values: string[]): number {
    if (values.length === 0) return EMPTY_LABELS;
    const canonical = JSON.stringify(values);
    const existing = this.byCanonical.get(canonical);
    if (existing !== undefined) return existing;
    const id = this.nextId++;
    this.byId.set(id, { values: Object.freeze(values), canonical, refs: 0 });
    // Not referenced yet: the next sweep forgets it unless a window takes it by then.
    this.unreferenced.push(id);
    this.byCanonical.set(canonical, id);
    return id;
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
    if (--s.refs <= 0) {
      this.byId.delete(id);
      this.byCanonical.delete(s.canonical);
    }
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
      if (s !== undefined && s.refs <= 0) {
        this.byId.delete(id);
        this.byCanonical.delete(s.canonical);
      }
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
