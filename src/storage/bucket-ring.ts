import { bucketStart } from "../model/time.js";

/**
 * Geometry of the ring (DESIGN §3, goldmane-spec §1.2): `historyBuckets` complete buckets, the
 * filling ("current") bucket and one future bucket, all W-aligned in Unix seconds. Each slot lists
 * the rows (key windows) that have data in it, so rollover work is O(rows in the recycled bucket).
 */
export class BucketRing {
  readonly slots: number;
  /** Start of the filling bucket [currentStart, currentStart + W). */
  currentStart: number;
  private rowLists: Int32Array[];
  private counts: Int32Array;

  constructor(
    readonly windowSec: number,
    readonly historyBuckets: number,
    nowSec: number,
  ) {
    this.slots = historyBuckets + 2;
    this.currentStart = bucketStart(nowSec, windowSec);
    this.rowLists = Array.from({ length: this.slots }, () => new Int32Array(0));
    this.counts = new Int32Array(this.slots);
  }

  /** Start of the oldest bucket held (Goldmane's BeginningOfHistory). */
  get oldestStart(): number {
    return this.currentStart - this.historyBuckets * this.windowSec;
  }

  /** Exclusive end of the future bucket (Goldmane's EndOfHistory). */
  get endSec(): number {
    return this.currentStart + 2 * this.windowSec;
  }

  /** Whether a flow starting at `tSec` has a bucket. */
  accepts(tSec: number): boolean {
    return tSec >= this.oldestStart && tSec < this.endSec;
  }

  slotOf(bucketStartSec: number): number {
    const n = Math.floor(bucketStartSec / this.windowSec) % this.slots;
    return n < 0 ? n + this.slots : n;
  }

  /** Records that `row` has data in the bucket starting at `bucketStartSec`. */
  addRow(bucketStartSec: number, row: number): void {
    const slot = this.slotOf(bucketStartSec);
    let list = this.rowLists[slot]!;
    const n = this.counts[slot]!;
    if (n === list.length) {
      const grown = new Int32Array(Math.max(64, n * 2));
      grown.set(list);
      this.rowLists[slot] = list = grown;
    }
    list[n] = row;
    this.counts[slot] = n + 1;
  }

  /** Rows with data in the bucket starting at `bucketStartSec` (a view; do not keep it). */
  rowsOf(bucketStartSec: number): Int32Array {
    const slot = this.slotOf(bucketStartSec);
    return this.rowLists[slot]!.subarray(0, this.counts[slot]!);
  }

  /** Empties a bucket's row list, shrinking storage that a burst left oversized. */
  clear(bucketStartSec: number): void {
    const slot = this.slotOf(bucketStartSec);
    const n = this.counts[slot]!;
    if (this.rowLists[slot]!.length > 4 * Math.max(64, n)) this.rowLists[slot] = new Int32Array(Math.max(64, n));
    this.counts[slot] = 0;
  }
}
