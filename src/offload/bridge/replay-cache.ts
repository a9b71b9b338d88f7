import type { FlowUpdate } from "../../gen/goldmane/api_pb.js";

/**
 * The Flows a node sent recently, replayed after every reconnect so the aggregator can rebuild
 * what it may have missed; its (node, key, start, end) dedup drops what it already has
 * (goldmane FlowCollector contract, DESIGN.md §3). Felix keeps about 5 minutes. Pure: time comes
 * in as arguments.
 */
export class ReplayCache {
  private entries: { endSec: number; update: FlowUpdate }[] = [];

  constructor(private readonly horizonSec: number) {}

  add(update: FlowUpdate, endSec: number): void {
    this.entries.push({ endSec, update });
  }

  /** Drops Flows that ended more than the horizon before `nowSec`. */
  prune(nowSec: number): void {
    const cut = nowSec - this.horizonSec;
    let i = 0;
    while (i < this.entries.length && this.entries[i]!.endSec < cut) i++;
    if (i > 0) this.entries = this.entries.slice(i);
  }

  /** The Flows to replay, oldest first. */
  snapshot(): FlowUpdate[] {
    return this.entries.map((e) => e.update);
  }

  get size(): number {
    return this.entries.length;
  }
}
