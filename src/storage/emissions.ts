import { grown } from "./grown.js";

/**
 * Interned emissions: the (node, start, end) triples that dedup claims name (DESIGN §3), each
 * stored once and reference-counted by the windows claiming it. One agent flush sends every key
 * with the same triple, so a bucket holds about as many distinct emissions as it has reporting
 * nodes (times flushes), and a window's claim is a 4-byte id instead of the 20-byte triple.
 */
export class Emissions {
  node = new Int32Array(0);
  start = new Float64Array(0);
  end = new Float64Array(0);
  private refs = new Int32Array(0);
  private readonly ids = new Map<string, number>();
  /** Per node: the last emission interned for it (one flush interns the same triple many times). */
  private lastOfNode = new Int32Array(0);
  private free: number[] = [];
  private high = 0;

  /** Live emissions (for tests and metrics). */
  get size(): number {
    return this.ids.size;
  }

  /** Whether emission `e` is (node, start, end). */
  is(e: number, node: number, startSec: number, endSec: number): boolean {
    return this.node[e] === node && this.start[e] === startSec && this.end[e] === endSec;
  }

  /** The id of (node, start, end), created if new, with one more reference taken on it. */
  acquire(node: number, startSec: number, endSec: number): number {
    let e = node >= 0 && node < this.lastOfNode.length ? this.lastOfNode[node]! - 1 : -1;
    if (e < 0 || this.refs[e] === 0 || !this.is(e, node, startSec, endSec)) {
      const name = `${node}:${startSec}:${endSec}`;
      e = this.ids.get(name) ?? this.create(name, node, startSec, endSec);
      if (node >= 0) this.rememberLast(node, e);
    }
    this.refs[e]!++;
    return e;
  }

  /** Drops one reference taken by {@link acquire}; the last one forgets the emission. */
  release(e: number): void {
    if (--this.refs[e]! > 0) return;
    this.ids.delete(`${this.node[e]}:${this.start[e]}:${this.end[e]}`);
    this.free.push(e);
  }

  private create(name: string, node: number, startSec: number, endSec: number): number {
    let e = this.free.pop();
    if (e === undefined) {
      if (this.high === this.node.length) this.grow();
      e = this.high++;
    }
    this.node[e] = node;
    this.start[e] = startSec;
    this.end[e] = endSec;
    this.refs[e] = 0;
    this.ids.set(name, e);
    return e;
  }

  private rememberLast(node: number, e: number): void {
    if (node >= this.lastOfNode.length) this.lastOfNode = grown(this.lastOfNode, Math.max(64, node + 1, 2 * this.lastOfNode.length));
    // Stored as id + 1 so that the zeroed array means "none".
    this.lastOfNode[node] = e + 1;
  }

  private grow(): void {
    const cap = Math.max(64, 2 * this.node.length);
    this.node = grown(this.node, cap);
    this.start = grown(this.start, cap);
    this.end = grown(this.end, cap);
    this.refs = grown(this.refs, cap);
  }
}
