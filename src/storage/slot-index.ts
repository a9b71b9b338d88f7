/**
 * An index of slots by a 32-bit hash, with no object or Map entry per slot: open addressing
 * (linear probing) in one `Int32Array` whose entries are slot + 1 (0 = empty), at most half full,
 * with backward-shift deletion so probe chains stay unbroken. The owner keeps each slot's hash
 * (`hashOf`) and verifies candidates itself: probe from `table[hash & mask]` until an empty entry.
 */
export class SlotIndex {
  /** The probe table (replaced when it grows: read it afresh for each lookup). */
  table = new Int32Array(64);
  private count = 0;

  constructor(private readonly hashOf: (slot: number) => number) {}

  /** Slots indexed. */
  get size(): number {
    return this.count;
  }

  /** Indexes `slot` under `hashOf(slot)` (the slot must not be indexed already). */
  insert(slot: number): void {
    if (2 * (this.count + 1) > this.table.length) this.rehash(this.table.length * 2);
    const t = this.table;
    const mask = t.length - 1;
    let i = this.hashOf(slot) & mask;
    while (t[i] !== 0) i = (i + 1) & mask;
    t[i] = slot + 1;
    this.count++;
  }

  /** Removes an indexed slot (call while `hashOf(slot)` still gives the hash it was indexed under). */
  remove(slot: number): void {
    const t = this.table;
    const mask = t.length - 1;
    let i = this.hashOf(slot) & mask;
    while (t[i] !== slot + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = t[j]!;
      if (e === 0) break;
      const home = this.hashOf(e - 1) & mask;
      // Move e back into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        t[i] = e;
        i = j;
      }
    }
    t[i] = 0;
    this.count--;
  }

  private rehash(cap: number): void {
    const old = this.table;
    const t = new Int32Array(cap);
    const mask = cap - 1;
    for (let k = 0; k < old.length; k++) {
      const e = old[k]!;
      if (e === 0) continue;
      let i = this.hashOf(e - 1) & mask;
      while (t[i] !== 0) i = (i + 1) & mask;
      t[i] = e;
    }
    this.table = t;
  }
}
