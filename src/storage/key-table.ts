import type { FlowKeyModel, PolicyHitModel } from "../model/flow.js";
import { traceString } from "../model/flow-key.js";
import { NONE } from "./flow-series.js";
import type { StringPool } from "./string-pool.js";

/**
 * Every live key: its identity string, interned key fields, its id, and the ends of its window
 * list in {@link FlowSeries}. Slots are reused; ids are not (goldmane-spec §3.5: 1, 2, 3… in order
 * of first sight, stable while the key has data, never reused).
 */
export class KeyTable {
  private readonly bySignature = new Map<string, number>();
  /** Key fields per slot (undefined for a free slot). */
  keys: (FlowKeyModel | undefined)[] = [];
  ids: number[] = [];
  signatures: string[] = [];
  /** The canonical trace string of each slot's key (the key into {@link traces}). */
  private traceOf: string[] = [];
  /**
   * Interned policy traces: keys share traces heavily (a few dozen policies, many workloads), so
   * each distinct trace's hit objects exist once, reference-counted by the keys using them.
   */
  private readonly traces = new Map<string, { enforced: readonly PolicyHitModel[]; pending: readonly PolicyHitModel[]; refs: number }>();
  newest = new Int32Array(0);
  oldest = new Int32Array(0);
  private freeSlots: number[] = [];
  private high = 0;
  private nextId = 1;

  constructor(private readonly pool: StringPool) {}

  /** Live keys. */
  get size(): number {
    return this.bySignature.size;
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

  lookup(signature: string): number | undefined {
    return this.bySignature.get(signature);
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
    this.keys[slot] = this.internKey(key, trace);
    this.traceOf[slot] = trace;
    if (id === undefined) this.ids[slot] = this.nextId++;
    else {
      this.ids[slot] = id;
      this.nextId = Math.max(this.nextId, id + 1);
    }
    this.signatures[slot] = signature;
    this.newest[slot] = NONE;
    this.oldest[slot] = NONE;
    this.bySignature.set(signature, slot);
    return slot;
  }

  /** Removes a key whose last window expired. */
  remove(slot: number): void {
    const key = this.keys[slot];
    if (!key) return;
    this.bySignature.delete(this.signatures[slot]!);
    this.releaseKey(key, this.traceOf[slot]!);
    this.traceOf[slot] = "";
    this.keys[slot] = undefined;
    this.signatures[slot] = "";
    this.freeSlots.push(slot);
  }

  private grow(): void {
    const cap = Math.max(1024, this.newest.length * 2);
    const n = new Int32Array(cap);
    n.set(this.newest);
    const o = new Int32Array(cap);
    o.set(this.oldest);
    this.newest = n;
    this.oldest = o;
  }

  private internHit(h: PolicyHitModel): PolicyHitModel {
    const p = this.pool;
    return {
      kind: h.kind,
      namespace: p.acquire(h.namespace),
      name: p.acquire(h.name),
      tier: p.acquire(h.tier),
      action: h.action,
      policyIndex: h.policyIndex,
      ruleIndex: h.ruleIndex,
      trigger: h.trigger ? this.internHit(h.trigger) : null,
    };
  }

  private releaseHit(h: PolicyHitModel): void {
    const p = this.pool;
    p.release(h.namespace);
    p.release(h.name);
    p.release(h.tier);
    if (h.trigger) this.releaseHit(h.trigger);
  }

  private internKey(k: FlowKeyModel, trace: string): FlowKeyModel {
    const p = this.pool;
    let t = this.traces.get(trace);
    if (t === undefined) {
      t = {
        enforced: Object.freeze(k.enforced.map((h) => this.internHit(h))),
        pending: Object.freeze(k.pending.map((h) => this.internHit(h))),
        refs: 0,
      };
      this.traces.set(trace, t);
    }
    t.refs++;
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
      enforced: t.enforced,
      pending: t.pending,
    });
  }

  private releaseKey(k: FlowKeyModel, trace: string): void {
    const p = this.pool;
    p.release(k.sourceName);
    p.release(k.sourceNamespace);
    p.release(k.destName);
    p.release(k.destNamespace);
    p.release(k.destServiceName);
    p.release(k.destServiceNamespace);
    p.release(k.destServicePortName);
    p.release(k.proto);
    const t = this.traces.get(trace);
    if (t !== undefined && --t.refs === 0) {
      this.traces.delete(trace);
      for (const h of t.enforced) this.releaseHit(h);
      for (const h of t.pending) this.releaseHit(h);
    }
  }
}
