import { COUNTERS } from "../model/flow.js";
import { Emissions } from "./emissions.js";
import { grown } from "./grown.js";

/** "No row" in every link column. */
export const NONE = -1;

/**
 * The windows of every key: one row per (key, bucket) in struct-of-arrays columns (DESIGN §5), so
 * a window costs about a hundred bytes and no object. Each key's rows form a doubly linked list in
 * time order (prev = older, next = newer); rows of recycled buckets go to a free list.
 *
 * Dedup claims (DESIGN §3) live on the row of the bucket the flow landed in: the first claim in
 * columns, further ones in a side table.
 */
export class FlowSeries {
  capacity = 0;
  /**
   * Counters, COUNTERS per row: 32-bit while every window's sums fit (28 bytes per row instead of
   * 56, issue 15); the first sum that does not (over 2^32 − 1, or negative) widens the whole column
   * to 64-bit floats for the store's life, so a read is always `counters[row * COUNTERS + i]`.
   */
  counters: Uint32Array | Float64Array = new Uint32Array(0);
  /** Bucket start (Unix seconds) of each row. */
  start = new Float64Array(0);
  keySlot = new Int32Array(0);
  prev = new Int32Array(0);
  next = new Int32Array(0);
  sourceLabels = new Int32Array(0);
  destLabels = new Int32Array(0);
  /**
   * The first claim on each row, as an interned emission id (or NONE): the rows of one agent
   * flush share one (node, start, end), so a row holds 4 bytes instead of the 20 of the triple
   * (issue 15). Further claims on the row go to {@link extraClaims}.
   */
  claim = new Int32Array(0);
  /**
   * Further claims per row, hashed: a key reported many times in one bucket (one emission per
   * flush interval per node is typical, but clients may send more) must not make the dedup check
   * linear in the number of claims.
   */
  readonly extraClaims = new Map<number, Set<string>>();
  /** The (node, start, end) triples that {@link claim} ids name. */
  readonly emissions = new Emissions();

  private free: number[] = [];
  private high = 0;
  private live = 0;

  /** Rows in use. */
  get size(): number {
    return this.live;
  }

  /** One past the highest row ever used: rows `0 ≤ r < rowLimit` with `keySlot[r] !== NONE` are live. */
  get rowLimit(): number {
    return this.high;
  }

  /** Allocates a zeroed row. */
  alloc(): number {
    let r = this.free.pop();
    if (r === undefined) {
      if (this.high === this.capacity) this.grow();
      r = this.high++;
    }
    this.live++;
    this.counters.fill(0, r * COUNTERS, r * COUNTERS + COUNTERS);
    this.prev[r] = NONE;
    this.next[r] = NONE;
    this.claim[r] = NONE;
    return r;
  }

  /** Returns a row to the free list (its claims go with it). */
  release(r: number): void {
    this.clearClaims(r);
    this.keySlot[r] = NONE;
    this.free.push(r);
    this.live--;
  }

  /** Whether `node` already delivered the emission (start, end) into row `r`. */
  hasClaim(r: number, node: number, startSec: number, endSec: number): boolean {
    const e = this.claim[r]!;
    if (e === NONE) return false;
    if (this.emissions.is(e, node, startSec, endSec)) return true;
    const extra = this.extraClaims.get(r);
    return extra !== undefined && extra.has(`${node}:${startSec}:${endSec}`);
  }

  /** Records that `node` delivered the emission (start, end) into row `r`. */
  addClaim(r: number, node: number, startSec: number, endSec: number): void {
    if (this.claim[r] === NONE) {
      this.claim[r] = this.emissions.acquire(node, startSec, endSec);
      return;
    }
    const claim = `${node}:${startSec}:${endSec}`;
    const extra = this.extraClaims.get(r);
    if (extra) extra.add(claim);
    else this.extraClaims.set(r, new Set([claim]));
  }

  /** Calls `fn` for every claim on row `r` (snapshots). */
  forEachClaim(r: number, fn: (node: number, startSec: number, endSec: number) => void): void {
    const e = this.claim[r]!;
    if (e === NONE) return;
    const em = this.emissions;
    fn(em.node[e]!, em.start[e]!, em.end[e]!);
    for (const c of this.extraClaims.get(r) ?? []) {
      const [node, start, end] = c.split(":").map(Number);
      fn(node!, start!, end!);
    }
  }

  /** Adds one flow's counters (COUNTERS values) to row `r`. */
  addCounters(r: number, values: ArrayLike<number>): void {
    const base = r * COUNTERS;
    let c = this.counters;
    if (c instanceof Uint32Array) {
      for (let i = 0; i < COUNTERS; i++) {
        const v = c[base + i]! + values[i]!;
        if (v >>> 0 !== v) {
          this.widenCounters();
          c = this.counters;
          break;
        }
      }
    }
    for (let i = 0; i < COUNTERS; i++) c[base + i]! += values[i]!;
  }

  /** Whether the counters column is still 32-bit (for tests and metrics). */
  get narrowCounters(): boolean {
    return this.counters instanceof Uint32Array;
  }

  private widenCounters(): void {
    const wide = new Float64Array(this.counters.length);
    wide.set(this.counters);
    this.counters = wide;
  }

  /** Forgets every claim on row `r` (the replay horizon has passed). */
  clearClaims(r: number): void {
    const e = this.claim[r]!;
    if (e === NONE) return;
    this.emissions.release(e);
    this.claim[r] = NONE;
    if (this.extraClaims.size > 0) this.extraClaims.delete(r);
  }

  private grow(): void {
    const cap = Math.max(1024, this.capacity * 2);
    // The counters keep their width (32-bit until a sum needed more).
    this.counters = grown(this.counters, cap * COUNTERS);
    this.start = grown(this.start, cap);
    this.keySlot = grown(this.keySlot, cap);
    this.prev = grown(this.prev, cap);
    this.next = grown(this.next, cap);
    this.sourceLabels = grown(this.sourceLabels, cap);
    this.destLabels = grown(this.destLabels, cap);
    this.claim = grown(this.claim, cap);
    this.capacity = cap;
  }
}
