import { compareUtf8 } from "../model/compare.js";

/** At most this many source (and destination) IPs per flow, as upstream PR #13063 proposes. */
export const MAX_FLOW_IPS = 100;

/** The IPs of one key in one bucket. */
interface IpSets {
  src: Set<string> | null;
  dst: Set<string> | null;
}

/** One key's IPs over a range of buckets (sorted byte-wise, at most {@link MAX_FLOW_IPS} each). */
export interface FlowIpLists {
  readonly sourceIps: string[];
  readonly destIps: string[];
}

const NO_IPS: FlowIpLists = Object.freeze({ sourceIps: [], destIps: [] }) as FlowIpLists;

/** A snapshot record: key id, bucket start, source IPs, destination IPs. */
export type FlowIpsRecord = [number, number, string[], string[]];

/**
 * Flow IPs (`Flow.source_ips` / `dest_ips`, DESIGN §6d) as a side structure of the store: per
 * bucket, per key id, a set union capped at {@link MAX_FLOW_IPS}. Only keys whose agent sent IPs
 * have an entry, so agents that send none cost nothing: no column per window, one empty check at
 * ingest. Keyed by key id (never reused) and bucket start, so it needs no window rows; a bucket's
 * entries go when the ring recycles it (the store calls {@link FlowIps.onRecycle}).
 */
export class FlowIps {
  private readonly buckets = new Map<number, Map<number, IpSets>>();

  /** Keys × buckets holding IPs (for tests). */
  get size(): number {
    let n = 0;
    for (const m of this.buckets.values()) n += m.size;
    return n;
  }

  /**
   * Adds IPs of the key `id` in the bucket starting at `bucketStartSec`. Returns how many new IPs
   * were dropped because a set already held {@link MAX_FLOW_IPS} (the caller counts them).
   */
  add(id: number, bucketStartSec: number, src: readonly string[] | undefined, dst: readonly string[] | undefined): number {
    if ((src === undefined || src.length === 0) && (dst === undefined || dst.length === 0)) return 0;
    let bucket = this.buckets.get(bucketStartSec);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(bucketStartSec, bucket);
    }
    let sets = bucket.get(id);
    if (sets === undefined) {
      sets = { src: null, dst: null };
      bucket.set(id, sets);
    }
    let dropped = 0;
    if (src !== undefined && src.length > 0) dropped += addCapped((sets.src ??= new Set()), src);
    if (dst !== undefined && dst.length > 0) dropped += addCapped((sets.dst ??= new Set()), dst);
    return dropped;
  }

  /** Drops the IPs of a recycled bucket. */
  onRecycle(bucketStartSec: number): void {
    this.buckets.delete(bucketStartSec);
  }

  /** The union of key `id`'s IPs over buckets starting in [fromSec, toSec], capped and sorted. */
  between(id: number, fromSec: number, toSec: number): FlowIpLists {
    if (this.buckets.size === 0) return NO_IPS;
    let src: Set<string> | null = null;
    let dst: Set<string> | null = null;
    for (const [b, bucket] of this.buckets) {
      if (b < fromSec || b > toSec) continue;
      const sets = bucket.get(id);
      if (sets === undefined) continue;
      if (sets.src) addCapped((src ??= new Set()), sets.src);
      if (sets.dst) addCapped((dst ??= new Set()), sets.dst);
    }
    if (src === null && dst === null) return NO_IPS;
    return { sourceIps: sorted(src), destIps: sorted(dst) };
  }

  /** Every entry, for snapshots. */
  records(): FlowIpsRecord[] {
    const out: FlowIpsRecord[] = [];
    for (const [b, bucket] of this.buckets) {
      for (const [id, sets] of bucket) out.push([id, b, sorted(sets.src), sorted(sets.dst)]);
    }
    return out;
  }
}

function addCapped(set: Set<string>, values: Iterable<string>): number {
  let dropped = 0;
  for (const v of values) {
    if (set.has(v)) continue;
    if (set.size >= MAX_FLOW_IPS) dropped++;
    else set.add(v);
  }
  return dropped;
}

function sorted(s: Set<string> | null): string[] {
  return s === null ? [] : [...s].sort(compareUtf8);
}
