import { COUNTERS } from "../model/flow.js";

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
  /** Counters, COUNTERS per row. */
  counters = new Float64Array(0);
  /** Bucket start (Unix seconds) of each row. */
  start = new Float64Array(0);
  keySlot = new Int32Array(0);
  prev = new Int32Array(0);
  next = new Int32Array(0);
  sourceLabels = new Int32Array(0);
  destLabels = new Int32Array(0);
  /** Node id of the first claim on the row, or NONE. */
  claimNode = new Int32Array(0);
  claimStart = new Float64Array(0);
  claimEnd = new Float64Array(0);
  /**
   * Further claims per row, hashed: a key reported many times in one bucket (one emission per
   * flush interval per node is typical, but clients may send more) must not make the dedup check
   * linear in the number of claims.
   */
  readonly extraClaims = new Map<number, Set<string>>();

  private free: number[] = [];
  private high = 0;
  private live = 0;

  /** Rows in use. */
  get size(): number {
    return this.live;
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
    this.claimNode[r] = NONE;
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
    if (this.claimNode[r] === node && this.claimStart[r] === startSec && this.claimEnd[r] === endSec) return true;
    if (this.claimNode[r] === NONE) return false;
    const extra = this.extraClaims.get(r);
    return extra !== undefined && extra.has(`${node}:${startSec}:${endSec}`);
  }

  /** Records that `node` delivered the emission (start, end) into row `r`. */
  addClaim(r: number, node: number, startSec: number, endSec: number): void {
    if (this.claimNode[r] === NONE) {
      this.claimNode[r] = node;
      this.claimStart[r] = startSec;
      this.claimEnd[r] = endSec;
      return;
    }
    const claim = `${node}:${startSec}:${endSec}`;
    const extra = this.extraClaims.get(r);
    if (extra) extra.add(claim);
    else this.extraClaims.set(r, new Set([claim]));
  }

  /** Calls `fn` for every claim on row `r` (snapshots). */
  forEachClaim(r: number, fn: (node: number, startSec: number, endSec: number) => void): void {
    if (this.claimNode[r] === NONE) return;
    fn(this.claimNode[r]!, this.claimStart[r]!, this.claimEnd[r]!);
    for (const c of this.extraClaims.get(r) ?? []) {
      const [node, start, end] = c.split(":").map(Number);
      fn(node!, start!, end!);
    }
  }

  /** Forgets every claim on row `r` (the replay horizon has passed). */
  clearClaims(r: number): void {
    this.claimNode[r] = NONE;
    if (this.extraClaims.size > 0) this.extraClaims.delete(r);
  }

  private grow(): void {
    const cap = Math.max(1024, this.capacity * 2);
    const f64 = (old: Float64Array, n: number) => {
      const a = new Float64Array(n);
      a.set(old);
      return a;
    };
    const i32 = (old: Int32Array) => {
      const a = new Int32Array(cap);
      a.set(old);
      return a;
    };
    this.counters = f64(this.counters, cap * COUNTERS);
    this.start = f64(this.start, cap);
    this.claimStart = f64(this.claimStart, cap);
    this.claimEnd = f64(this.claimEnd, cap);
    this.keySlot = i32(this.keySlot);
    this.prev = i32(this.prev);
    this.next = i32(this.next);
    this.sourceLabels = i32(this.sourceLabels);
    this.destLabels = i32(this.destLabels);
    this.claimNode = i32(this.claimNode);
    this.capacity = cap;
  }
}
