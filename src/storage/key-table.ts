import type { FlowKeyModel, PolicyHitModel } from "../model/flow.js";
import { hitString, keyString, traceString } from "../model/flow-key.js";
import { NONE } from "./flow-series.js";
import { SlotIndex } from "./slot-index.js";
import type { StringPool } from "./string-pool.js";
import { grown } from "./grown.js";

/** One distinct policy hit, shared by the traces that have it. */
interface InternedHit {
  readonly hit: PolicyHitModel;
  refs: number;
}

/** The trace side without hits (most pending traces): one frozen array for all of them. */
const NO_HITS: readonly PolicyHitModel[] = Object.freeze([]);

/**
 * Every live key: its identity string, interned key fields, its id, and the ends of its window
 * list in {@link FlowSeries}. Slots are reused; ids are not (goldmane-spec §3.5: 1, 2, 3… in order
 * of first sight, stable while the key has data, never reused).
 */
export class KeyTable {
  /**
   * The identity index: open addressing (linear probing) over a 32-bit hash of the canonical
   * identity string, entries slot + 1 (0 = empty). The identity string is not kept per key (it
   * was ~200 bytes plus a Map entry per key, issue 15): a probe whose hash matches is verified by
   * rebuilding the stored key's string, which only happens when the key exists.
   */
  private index = new Int32Array(2048);
  private hashOf = new Int32Array(0);
  private live = 0;
  /** Key fields per slot (undefined for a free slot). */
  keys: (FlowKeyModel | undefined)[] = [];
  ids: number[] = [];
  /**
   * The interned trace of each slot's key, as a trace slot (no trace string is kept, per key or
   * per trace; {@link traces} indexes trace slots by the hash of the trace string).
   */
  private traceOf = new Int32Array(0);
  /**
   * Interned policy traces, one reused slot each (no object or Map entry per trace, issue 15):
   * keys share traces (a few dozen policies, many workloads), so each distinct trace's hit arrays
   * exist once, reference-counted by the keys using them. A free trace slot has refs 0.
   */
  private traceEnforced: (readonly PolicyHitModel[])[] = [];
  private tracePending: (readonly PolicyHitModel[])[] = [];
  private traceHash = new Int32Array(0);
  private traceRefs = new Int32Array(0);
  private freeTraces: number[] = [];
  private traceHigh = 0;
  private readonly traces = new SlotIndex((t) => this.traceHash[t]!);
  /**
   * Interned policy hits, by their canonical string: distinct traces are many (tens of thousands
   * at 100 000 keys) but built from a few hundred distinct hits, so a trace holds references to
   * shared frozen hits instead of its own copies (issue 15).
   */
  private readonly hits = new Map<string, InternedHit>();
  newest = new Int32Array(0);
  oldest = new Int32Array(0);
  private freeSlots: number[] = [];
  private high = 0;
  private nextId = 1;

  constructor(private readonly pool: StringPool) {}

  /** Live keys. */
  get size(): number {
    return this.live;
  }

  /** One past the highest slot ever used: iterate `0 ≤ slot < slotLimit` and skip free slots. */
  get slotLimit(): number {
    return this.high;
  }

  /** The id the next new key will get. */
  get peekNextId(): number {
    return this.nextId;
  }

  /** Never hand out ids below `next` (a restored snapshot's counter: ids are never reused). */
  reserveIdsBelow(next: number): void {
    this.nextId = Math.max(this.nextId, next);
  }

  /** The slot of the key whose canonical identity string is `signature`, if live. */
  lookup(signature: string): number | undefined {
    const h = hashString(signature);
    const mask = this.index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = this.index[i]!;
      if (e === 0) return undefined;
      const slot = e - 1;
      if (this.hashOf[slot] === h && keyString(this.keys[slot]!, traceString(this.keys[slot]!.enforced, this.keys[slot]!.pending)) === signature) return slot;
    }
  }

  private indexInsert(slot: number, h: number): void {
    if (2 * (this.live + 1) > this.index.length) this.rehash(this.index.length * 2);
    const mask = this.index.length - 1;
    let i = h & mask;
    while (this.index[i] !== 0) i = (i + 1) & mask;
    this.index[i] = slot + 1;
    this.live++;
  }

  /** Removes a slot from the index (backward-shift deletion keeps probe chains unbroken). */
  private indexRemove(slot: number): void {
    const idx = this.index;
    const mask = idx.length - 1;
    let i = this.hashOf[slot]! & mask;
    while (idx[i] !== slot + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = idx[j]!;
      if (e === 0) break;
      const home = this.hashOf[e - 1]! & mask;
      // Move e back into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        idx[i] = e;
        i = j;
      }
    }
    idx[i] = 0;
    this.live--;
  }

  private rehash(cap: number): void {
    const old = this.index;
    this.index = new Int32Array(cap);
    const mask = cap - 1;
    for (let k = 0; k < old.length; k++) {
      const e = old[k]!;
      if (e === 0) continue;
      let i = this.hashOf[e - 1]! & mask;
      while (this.index[i] !== 0) i = (i + 1) & mask;
      this.index[i] = e;
    }
  }

  /**
   * Adds a key (its strings interned) and returns its slot. `id` restores a key from a snapshot
   * with the id it had; later keys still get larger ids than any restored one.
   */
  insert(signature: string, key: FlowKeyModel, id?: number, trace = traceString(key.enforced, key.pending)): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.high === this.newest.length) this.grow();
      slot = this.high++;
    }
    const t = this.internTrace(key, trace);
    this.keys[slot] = this.internKey(key, this.traceEnforced[t]!, this.tracePending[t]!);
    this.traceOf[slot] = t;
    if (id === undefined) this.ids[slot] = this.nextId++;
    else {
      this.ids[slot] = id;
      this.nextId = Math.max(this.nextId, id + 1);
    }
    const h = hashString(signature);
    this.hashOf[slot] = h;
    this.newest[slot] = NONE;
    this.oldest[slot] = NONE;
    this.indexInsert(slot, h);
    return slot;
  }

  /** Removes a key whose last window expired. */
  remove(slot: number): void {
    const key = this.keys[slot];
    if (!key) return;
    this.indexRemove(slot);
    this.releaseKey(key, this.traceOf[slot]!);
    this.keys[slot] = undefined;
    this.freeSlots.push(slot);
  }

  private grow(): void {
    const cap = Math.max(1024, this.newest.length * 2);
    this.newest = grown(this.newest, cap);
    this.oldest = grown(this.oldest, cap);
    this.hashOf = grown(this.hashOf, cap);
    this.traceOf = grown(this.traceOf, cap);
  }

  /** The shared hit equal to `h`, created if new, with one more reference taken on it. */
  private internHit(h: PolicyHitModel): PolicyHitModel {
    const sig = hitString(h);
    let e = this.hits.get(sig);
    if (e === undefined) {
      const p = this.pool;
      const hit: PolicyHitModel = Object.freeze({
        kind: h.kind,
        namespace: p.acquire(h.namespace),
        name: p.acquire(h.name),
        tier: p.acquire(h.tier),
        action: h.action,
        policyIndex: h.policyIndex,
        ruleIndex: h.ruleIndex,
        trigger: h.trigger ? this.internHit(h.trigger) : null,
      });
      e = { hit, refs: 0 };
      this.hits.set(sig, e);
    }
    e.refs++;
    return e.hit;
  }

  /** Drops one reference taken by {@link internHit}; the last one releases the hit's strings. */
  private releaseHit(h: PolicyHitModel): void {
    const sig = hitString(h);
    const e = this.hits.get(sig)!;
    if (--e.refs > 0) return;
    this.hits.delete(sig);
    const p = this.pool;
    p.release(h.namespace);
    p.release(h.name);
    p.release(h.tier);
    if (h.trigger) this.releaseHit(h.trigger);
  }

  private internHits(hits: readonly PolicyHitModel[]): readonly PolicyHitModel[] {
    return hits.length === 0 ? NO_HITS : Object.freeze(hits.map((h) => this.internHit(h)));
  }

  /**
   * The interned trace equal to `trace`, created if new. Indexed by a hash of the trace string,
   * verified by rebuilding the candidate's string (only when a key is inserted), so the string
   * itself is not kept.
   */
  private internTrace(k: FlowKeyModel, trace: string): number {
    const hash = hashString(trace);
    const table = this.traces.table;
    const mask = table.length - 1;
    for (let i = hash & mask; table[i] !== 0; i = (i + 1) & mask) {
      const t = table[i]! - 1;
      if (this.traceHash[t] === hash && traceString(this.traceEnforced[t]!, this.tracePending[t]!) === trace) {
        this.traceRefs[t]!++;
        return t;
      }
    }
    let t = this.freeTraces.pop();
    if (t === undefined) {
      if (this.traceHigh === this.traceHash.length) this.growTraces();
      t = this.traceHigh++;
    }
    this.traceEnforced[t] = this.internHits(k.enforced);
    this.tracePending[t] = this.internHits(k.pending);
    this.traceHash[t] = hash;
    this.traceRefs[t] = 1;
    this.traces.insert(t);
    return t;
  }

  private releaseTrace(t: number): void {
    if (--this.traceRefs[t]! > 0) return;
    this.traces.remove(t);
    for (const h of this.traceEnforced[t]!) this.releaseHit(h);
    for (const h of this.tracePending[t]!) this.releaseHit(h);
    this.traceEnforced[t] = NO_HITS;
    this.tracePending[t] = NO_HITS;
    this.freeTraces.push(t);
  }

  private growTraces(): void {
    const cap = Math.max(1024, 2 * this.traceHash.length);
    this.traceHash = grown(this.traceHash, cap);
    this.traceRefs = grown(this.traceRefs, cap);
  }

  private internKey(k: FlowKeyModel, enforced: readonly PolicyHitModel[], pending: readonly PolicyHitModel[]): FlowKeyModel {
    const p = this.pool;
    return Object.freeze({
      sourceName: p.acquire(k.sourceName),
      sourceNamespace: p.acquire(k.sourceNamespace),
      sourceType: k.sourceType,
      destName: p.acquire(k.destName),
      destNamespace: p.acquire(k.destNamespace),
      destType: k.destType,
      destPort: k.destPort,
      destServiceName: p.acquire(k.destServiceName),
      destServiceNamespace: p.acquire(k.destServiceNamespace),
      destServicePortName: p.acquire(k.destServicePortName),
      destServicePort: k.destServicePort,
      proto: p.acquire(k.proto),
      reporter: k.reporter,
      action: k.action,
      enforced,
      pending,
    });
  }

  private releaseKey(k: FlowKeyModel, t: number): void {
    const p = this.pool;
    p.release(k.sourceName);
    p.release(k.sourceNamespace);
    p.release(k.destName);
    p.release(k.destNamespace);
    p.release(k.destServiceName);
    p.release(k.destServiceNamespace);
    p.release(k.destServicePortName);
    p.release(k.proto);
    this.releaseTrace(t);
  }
}

/** FNV-1a over the UTF-16 code units of `s` (32 bits, as a signed int). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}
