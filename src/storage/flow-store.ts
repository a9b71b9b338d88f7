import type { FlowKeyModel, IngestFlow } from "../model/flow.js";
import { keyString, traceString } from "../model/flow-key.js";
import { bucketStart } from "../model/time.js";
import { BucketRing } from "./bucket-ring.js";
import { FlowIps } from "./flow-ips.js";
import { FlowSeries, NONE } from "./flow-series.js";
import { KeyTable } from "./key-table.js";
import { EMPTY_LABELS, LabelSets } from "./label-sets.js";
import { StringPool } from "./string-pool.js";
import { grown } from "./grown.js";
import { SignatureMemo } from "./signature-memo.js";

/** Sizing of a {@link FlowStore}. */
export interface FlowStoreOptions {
  /** Bucket width W in whole seconds (≥ 1). */
  windowSec: number;
  /** Complete buckets of history kept behind the filling bucket (Goldmane: 240). */
  historyBuckets: number;
  /** New keys beyond this many are rejected; existing keys keep aggregating. */
  maxKeys: number;
  /** How long dedup claims are kept (agents replay this far back after a reconnect). */
  replayHorizonSec: number;
}

/** What happened to one flow handed to {@link FlowStore.add}. */
export type AddOutcome = "stored" | "duplicate" | "out_of_window" | "max_unique_flows";

/** What the fast lane's memo remembers of an encoded key and its labels. */
export interface EncodedFlowMemo {
  readonly slot: number;
  readonly id: number;
  readonly src: number;
  readonly dst: number;
}

/** Node id meaning "unknown reporter": never deduplicated (goldmane-spec §2.3). */
export const NO_NODE = -1;

/** Observer of key lifecycle and per-window ingest, for derived indices (statistics, hints). */
export interface FlowStoreObserver {
  /** A flow's counters were added to the key in `slot`, in the bucket starting at `bucketStartSec`. */
  onAdd?(slot: number, key: FlowKeyModel, bucketStartSec: number, counters: ArrayLike<number>): void;
  /** The bucket starting at `bucketStartSec` is being recycled. */
  onRecycle?(bucketStartSec: number): void;
}

/**
 * The aggregation state (DESIGN §3): keys, their per-bucket windows and the ring, plus dedup
 * claims. Pure data structure: no I/O, no timers, time comes in as arguments.
 */
export class FlowStore {
  readonly windowSec: number;
  readonly pool = new StringPool();
  readonly labels = new LabelSets();
  readonly keys = new KeyTable(this.pool);
  readonly series = new FlowSeries();
  readonly ring: BucketRing;
  private readonly claimBuckets: number;
  private readonly observers: FlowStoreObserver[] = [];
  /** Flow IPs: a side structure filled only by agents that send them (DESIGN §6d). */
  readonly ips = new FlowIps();

  constructor(
    private readonly options: FlowStoreOptions,
    nowSec: number,
  ) {
    if (!Number.isInteger(options.windowSec) || options.windowSec < 1) throw new RangeError("windowSec must be a whole number ≥ 1");
    if (!Number.isInteger(options.historyBuckets) || options.historyBuckets < 1) throw new RangeError("historyBuckets must be ≥ 1");
    this.windowSec = options.windowSec;
    this.ring = new BucketRing(options.windowSec, options.historyBuckets, nowSec);
    // A claim must outlive the agent's replay window: the claims of bucket b are dropped at the
    // rollover to b + (ceil(horizon/W) + 2)·W (docs/DESIGN.md §3).
    this.claimBuckets = Math.ceil(options.replayHorizonSec / options.windowSec) + 1;
    this.observers.push(this.ips);
  }

  /**
   * Adds a stored flow's IPs to the key in `slot`, in the bucket containing `startSec` (call after
   * an add that returned "stored"). Returns how many IPs the cap of 100 dropped.
   */
  addIps(slot: number, startSec: number, src: readonly string[] | undefined, dst: readonly string[] | undefined): number {
    return this.ips.add(this.keys.ids[slot]!, bucketStart(startSec, this.windowSec), src, dst);
  }

  /** Registers an observer (derived per-bucket indices such as policy statistics). */
  observe(observer: FlowStoreObserver): void {
    this.observers.push(observer);
  }

  /** Number of live keys. */
  get keyCount(): number {
    return this.keys.size;
  }

  /**
   * Adds one flow reported by `node` (an interned node id, or {@link NO_NODE}). Placement is by
   * start time only (goldmane-spec §1.3); a repeat of the same (key, start, end) from the same node
   * is a duplicate (DESIGN §3 emission claims).
   */
  add(flow: IngestFlow, node: number): AddOutcome {
    if (!this.ring.accepts(flow.startSec)) return "out_of_window";
    const slot = this.keySlotFor(flow.key);
    if (slot === undefined) return "max_unique_flows";
    return this.addToKey(slot, flow.startSec, flow.endSec, this.labels.intern(flow.sourceLabels), this.labels.intern(flow.destLabels), flow.counters, node);
  }

  /**
   * The slot of a key, created if new; undefined when MAX_UNIQUE_FLOWS is reached. The canonical
   * identity string is the only authority on key equality.
   */
  keySlotFor(key: FlowKeyModel): number | undefined {
    const trace = traceString(key.enforced, key.pending);
    const signature = keyString(key, trace);
    const slot = this.keys.lookup(signature);
    if (slot !== undefined) return slot;
    if (this.keys.size >= this.options.maxKeys) return undefined;
    return this.keys.insert(signature, key, undefined, trace);
  }

  /**
   * Memo of the fast lane: the exact signature of an encoded key and its label lists → the key's
   * slot and label-set ids, so a repeat is stored without decoding anything. Entries carry the
   * key's id (a freed slot reused by another key invalidates them) and are checked against the
   * label sets still alive. Cleared when it outgrows twice the key limit. An entry is a number of
   * the {@link SignatureMemo} indexing typed columns (no object or string per entry: issue 15).
   */
  private readonly signatures = new SignatureMemo();
  private memoSlot = new Int32Array(0);
  private memoId = new Float64Array(0);
  private memoSrc = new Int32Array(0);
  private memoDst = new Int32Array(0);
  /** {@link LabelSets.forgotten} when the entry's label sets were last seen alive. */
  private memoSeenAt = new Float64Array(0);
  /** What {@link recallEncoded} returns: valid until the next call. */
  private readonly recalled = { slot: 0, id: 0, src: 0, dst: 0 };

  /**
   * The memo entry of a signature (`length` bytes in `words`, hashed to `hash`: the scanner's
   * SCANNED fields), if everything it points to is still alive (valid until the next call).
   */
  recallEncoded(words: Int32Array, length: number, hash: number): EncodedFlowMemo | undefined {
    const e = this.signatures.find(words, length, hash);
    if (e < 0) return undefined;
    const slot = this.memoSlot[e]!;
    const src = this.memoSrc[e]!;
    const dst = this.memoDst[e]!;
    if (this.keys.ids[slot] === this.memoId[e] && this.keys.keys[slot] !== undefined && this.labelsAlive(e, src, dst)) {
      const m = this.recalled;
      m.slot = slot;
      m.id = this.memoId[e]!;
      m.src = src;
      m.dst = dst;
      return m;
    }
    this.signatures.delete(e);
    return undefined;
  }

  /**
   * Whether memo entry `e`'s label sets still exist: looked up only when a set was forgotten
   * since they were last seen alive (two hash probes per update were ~8 % of a replica's apply).
   */
  private labelsAlive(e: number, src: number, dst: number): boolean {
    const now = this.labels.forgotten;
    if (this.memoSeenAt[e] === now) return true;
    if (!this.labels.alive(src) || !this.labels.alive(dst)) return false;
    this.memoSeenAt[e] = now;
    return true;
  }

  /**
   * Remembers what a signature resolved to (after the full decode of an update whose
   * {@link recallEncoded} just missed: the signature is not in the memo).
   */
  rememberEncoded(words: Int32Array, length: number, hash: number, slot: number, src: number, dst: number): void {
    if (this.signatures.size >= 2 * this.options.maxKeys + 1024) this.signatures.clear();
    const e = this.signatures.insert(words, length, hash);
    if (e < 0) return;
    if (e >= this.memoSlot.length) this.growMemo();
    this.memoSlot[e] = slot;
    this.memoId[e] = this.keys.ids[slot]!;
    this.memoSrc[e] = src;
    this.memoDst[e] = dst;
    this.memoSeenAt[e] = this.labels.forgotten;
  }

  private growMemo(): void {
    const cap = this.signatures.entryCapacity;
    this.memoSlot = grown(this.memoSlot, cap);
    this.memoSrc = grown(this.memoSrc, cap);
    this.memoDst = grown(this.memoDst, cap);
    this.memoId = grown(this.memoId, cap);
    this.memoSeenAt = grown(this.memoSeenAt, cap);
  }

  /**
   * Adds counters to the window of the key in `slot` for the bucket containing `startSec`, after
   * the dedup check. `srcLabels`/`dstLabels` are label-set ids from {@link LabelSets}.
   */
  addToKey(
    slot: number,
    startSec: number,
    endSec: number,
    srcLabels: number,
    dstLabels: number,
    counters: ArrayLike<number>,
    node: number,
  ): AddOutcome {
    const ring = this.ring;
    if (!ring.accepts(startSec)) return "out_of_window";
    const b = bucketStart(startSec, this.windowSec);
    const keys = this.keys;
    const s = this.series;
    // Find the key's window for bucket b, walking from the newest (most flows are for it).
    let r = keys.newest[slot]!;
    while (r !== NONE && s.start[r]! > b) r = s.prev[r]!;
    let row: number;
    if (r !== NONE && s.start[r] === b) {
      row = r;
      if (node !== NO_NODE && s.hasClaim(row, node, startSec, endSec)) return "duplicate";
      // Strict intersection within a window (goldmane-spec §3.1): once empty, it stays empty.
      const src = s.sourceLabels[row]!;
      if (src !== srcLabels) {
        const srcNew = this.labels.intersect(src, srcLabels);
        if (srcNew !== src) {
          this.labels.ref(srcNew);
          this.labels.unref(src);
          s.sourceLabels[row] = srcNew;
        }
      }
      const dst = s.destLabels[row]!;
      if (dst !== dstLabels) {
        const dstNew = this.labels.intersect(dst, dstLabels);
        if (dstNew !== dst) {
          this.labels.ref(dstNew);
          this.labels.unref(dst);
          s.destLabels[row] = dstNew;
        }
      }
    } else {
      row = s.alloc();
      s.start[row] = b;
      s.keySlot[row] = slot;
      s.sourceLabels[row] = srcLabels;
      s.destLabels[row] = dstLabels;
      this.labels.ref(srcLabels);
      this.labels.ref(dstLabels);
      // Link after r (the newest window older than b), or first.
      const newer = r === NONE ? keys.oldest[slot]! : s.next[r]!;
      s.prev[row] = r;
      s.next[row] = newer;
      if (r === NONE) keys.oldest[slot] = row;
      else s.next[r] = row;
      if (newer === NONE) keys.newest[slot] = row;
      else s.prev[newer] = row;
      ring.addRow(b, row);
    }
    s.addCounters(row, counters);
    if (node !== NO_NODE) s.addClaim(row, node, startSec, endSec);
    const key = keys.keys[slot]!;
    for (const o of this.observers) o.onAdd?.(slot, key, b, counters);
    return "stored";
  }

  /**
   * The key's oldest window whose bucket starts in [first, last], or NONE: the key-selection rule
   * that List, FilterHints and scoped Statistics share (only buckets wholly inside a query's
   * range count, DESIGN §4). O(1) when the range reaches back past the key's oldest window (the
   * default query), else O(windows inside the range).
   */
  oldestWindowIn(slot: number, first: number, last: number): number {
    const start = this.series.start;
    const prev = this.series.prev;
    const oldest = this.keys.oldest[slot]!;
    const newest = this.keys.newest[slot]!;
    if (oldest === NONE || start[oldest]! > last || start[newest]! < first) return NONE;
    let r = oldest;
    if (start[oldest]! < first) {
      r = newest;
      while (prev[r] !== NONE && start[prev[r]!]! >= first) r = prev[r]!;
    }
    return start[r]! <= last ? r : NONE;
  }

  /** Start of the oldest bucket whose dedup claims are still kept. */
  get claimHorizonStart(): number {
    return Math.max(this.ring.oldestStart, this.ring.currentStart - this.claimBuckets * this.windowSec);
  }

  /** Re-records a claim on the key's window for the bucket containing `startSec` (snapshot restore). */
  restoreClaim(slot: number, node: number, startSec: number, endSec: number): boolean {
    const b = bucketStart(startSec, this.windowSec);
    const s = this.series;
    let r = this.keys.newest[slot]!;
    while (r !== NONE && s.start[r]! > b) r = s.prev[r]!;
    if (r === NONE || s.start[r] !== b) return false;
    if (!s.hasClaim(r, node, startSec, endSec)) s.addClaim(r, node, startSec, endSec);
    return true;
  }

  /** Drops keys left without windows (after a restore that skipped expired ones). */
  removeEmptyKeys(): void {
    for (let slot = 0; slot < this.keys.slotLimit; slot++) {
      if (this.keys.keys[slot] !== undefined && this.keys.newest[slot] === NONE) this.keys.remove(slot);
    }
  }

  /**
   * Moves the ring forward so that the filling bucket contains `nowSec`. Returns the start of every
   * bucket that became ready to stream, oldest first: at a rollover at R that is `[R−2W, R−W)`
   * (goldmane-spec §1.4, §5.2). A clock that went backwards changes nothing.
   */
  advanceTo(nowSec: number): number[] {
    const target = bucketStart(nowSec, this.windowSec);
    const ready: number[] = [];
    const W = this.windowSec;
    if (target <= this.ring.currentStart) return ready;
    const steps = (target - this.ring.currentStart) / W;
    if (steps > this.ring.slots) {
      // A jump longer than the ring (a suspended VM, a clock step): everything has expired.
      for (let i = 0; i < this.ring.slots; i++) this.recycle(this.ring.oldestStart + i * W);
      this.ring.currentStart = target;
      this.labels.sweep();
      return ready;
    }
    for (let i = 0; i < steps; i++) ready.push(this.rollover());
    return ready;
  }

  /** One rollover; returns the start of the bucket that became ready to stream. */
  rollover(): number {
    const W = this.windowSec;
    const ring = this.ring;
    const readyStart = ring.currentStart - W;
    // The oldest slot becomes the new future bucket.
    this.recycle(ring.oldestStart);
    ring.currentStart += W;
    const expiredClaims = ring.currentStart - (this.claimBuckets + 1) * W;
    if (expiredClaims >= ring.oldestStart) {
      const rows = ring.rowsOf(expiredClaims);
      for (let i = 0; i < rows.length; i++) this.series.clearClaims(rows[i]!);
    }
    this.labels.sweep();
    return readyStart;
  }

  /** Drops every window of the bucket starting at `b` and the keys left without windows. */
  private recycle(b: number): void {
    for (const o of this.observers) o.onRecycle?.(b);
    const s = this.series;
    const keys = this.keys;
    const rows = this.ring.rowsOf(b);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const slot = s.keySlot[row]!;
      // The recycled bucket is the oldest, so this row is its key's oldest window.
      const newer = s.next[row]!;
      keys.oldest[slot] = newer;
      if (newer === NONE) {
        keys.newest[slot] = NONE;
        keys.remove(slot);
      } else {
        s.prev[newer] = NONE;
      }
      this.labels.unref(s.sourceLabels[row]!);
      this.labels.unref(s.destLabels[row]!);
      s.sourceLabels[row] = EMPTY_LABELS;
      s.destLabels[row] = EMPTY_LABELS;
      s.release(row);
    }
    this.ring.clear(b);
  }
}
