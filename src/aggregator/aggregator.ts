import type { IngestFlow } from "../model/flow.js";
import type { MalformedReason } from "../model/convert.js";
import type { Clock } from "../model/time.js";
import type { Logger } from "../observability/logger.js";
import { rateLimitedLog } from "../observability/logger.js";
import { decodeFlowUpdate } from "../model/flow-update-decoder.js";
import { SCANNED, scanFlowUpdate } from "../model/flow-update-scan.js";
import { FlowStore, NO_NODE, type AddOutcome } from "../storage/flow-store.js";
import { PolicyStats } from "../storage/policy-stats.js";
import { encodeSnapshot, restoreSnapshot, type RestoreSummary } from "../storage/snapshot.js";
import type { AggregatorMetrics, IngestTallies } from "./metrics.js";

/** Aggregation settings (DESIGN §3). */
export interface AggregatorConfig {
  windowSec: number;
  historyBuckets: number;
  maxUniqueFlows: number;
  replayHorizonSec: number;
}

export interface AggregatorDeps {
  clock: Clock;
  log: Logger;
  metrics: AggregatorMetrics;
}

/** Called after each rollover with the start of the bucket that became ready to stream. */
export type ReadyListener = (bucketStartSec: number) => void;

/**
 * The single writer (DESIGN §1): every mutation of stored state goes through here. Queries read
 * `store` without mutating it. Rollover follows the injected clock; `tick()` is a plain call, so
 * tests drive time by hand, and `start()` only adds a timer that calls it on W boundaries.
 */
export interface Aggregator {
  readonly store: FlowStore;
  /** Per-bucket statistics per policy and rule, kept at ingest (observes `store`). */
  readonly policyStats: PolicyStats;
  readonly windowSec: number;
  /** Current time per the injected clock (seconds). */
  nowSec(): number;
  /** Stores one validated flow from `node` (peer IP or authenticated identity; "" = unknown). */
  ingest(flow: IngestFlow, node: string): AddOutcome;
  /**
   * Fast-lane ingest of one encoded FlowUpdate (`bytes[start, end)`): a cheap scan, memo lookups
   * of the encoded key and labels, and the full decode only for encodings not seen before.
   * Returns the outcome, or the malformed reason. Throws DecodeError for invalid encodings.
   */
  ingestEncoded(bytes: Uint8Array, start: number, end: number, node: string): AddOutcome | MalformedReason;
  /** Serialises the state (keys, windows, claims) for a restart (storage/snapshot.ts). */
  snapshot(): Buffer;
  /** Loads a snapshot into the (empty) store. Throws SnapshotError for an unusable one. */
  restore(bytes: Buffer): RestoreSummary;
  /** Counts and logs (rate-limited) an update that was not stored because it is malformed. */
  reject(reason: MalformedReason, node: string): void;
  /** Rolls the ring forward to the clock's time; cheap when nothing is due. */
  tick(): void;
  /** Registers a listener for buckets that become ready to stream. Returns an unsubscribe. */
  onReady(listener: ReadyListener): () => void;
  /** The reporting nodes, indexed by their interned id (dedup claims name nodes by id). */
  nodeNames(): readonly string[];
  /** The interned id of a reporting node (created if new): restores claims kept elsewhere. */
  nodeIdOf(node: string): number;
  /** Wall-clock seconds of the last completed rollover check (for liveness). */
  readonly lastTickSec: number;
  start(): void;
  stop(): void;
}

/** Creates the aggregator with an empty ring covering the past history up to the clock's now. */
export function createAggregator(config: AggregatorConfig, deps: AggregatorDeps): Aggregator {
  const { clock, log, metrics } = deps;
  const store = new FlowStore(
    {
      windowSec: config.windowSec,
      historyBuckets: config.historyBuckets,
      maxKeys: config.maxUniqueFlows,
      replayHorizonSec: config.replayHorizonSec,
    },
    clock.nowSec(),
  );
  const policyStats = new PolicyStats();
  store.observe(policyStats);
  const nodes = new Map<string, number>();
  const listeners = new Set<ReadyListener>();
  const limited = rateLimitedLog(10_000);
  let timer: NodeJS.Timeout | undefined;
  let lastTickSec = clock.nowSec();
  const W = config.windowSec;

  const nodeId = (node: string): number => {
    if (node === "") return NO_NODE;
    let id = nodes.get(node);
    if (id === undefined) {
      id = nodes.size;
      nodes.set(node, id);
    }
    return id;
  };

  const tick = () => {
    const now = clock.nowSec();
    lastTickSec = now;
    if (now < store.ring.currentStart + W) return;
    const t0 = performance.now();
    const ready = store.advanceTo(now);
    metrics.rolloverDuration.observe(performance.now() - t0);
    for (const b of ready) {
      for (const l of listeners) {
        try {
          l(b);
        } catch (err) {
          log.error({ err }, "bucket-ready listener failed");
        }
      }
    }
  };

  const tallies: IngestTallies = { received: 0, duplicates: 0, keys: 0, keyBuckets: 0 };
  metrics.bind(() => {
    tallies.keys = store.keyCount;
    tallies.keyBuckets = store.series.size;
    return tallies;
  });

  const countIpsDropped = (n: number) => {
    if (n > 0) metrics.ipsDropped.inc(n);
  };

  const rejectAs = (reason: MalformedReason, node: string): MalformedReason => {
    metrics.rejected.inc({ reason });
    limited(reason, (suppressed) => log.warn({ node, reason, suppressed }, "malformed flow update not stored"));
    return reason;
  };

  /**
   * The full decode of an encoding not seen before: validates the key, finds its canonical slot,
   * and, when `remember` (SCANNED still holds this update's signature: nothing scans in between),
   * lets the memo remember the signature for the next time.
   */
  const ingestDecoded = (bytes: Uint8Array, start: number, end: number, node: string, remember: boolean) => {
    const full = decodeFlowUpdate(bytes, start, end);
    if (!full.ok) return rejectAs(full.reason, node);
    tallies.received++;
    const f = full.flow;
    if (!store.ring.accepts(f.startSec)) return account("out_of_window", node, f.startSec);
    const slot = store.keySlotFor(f.key);
    if (slot === undefined) return account("max_unique_flows", node, f.startSec);
    const src = store.labels.intern(f.sourceLabels);
    const dst = store.labels.intern(f.destLabels);
    const outcome = account(store.addToKey(slot, f.startSec, f.endSec, src, dst, f.counters, nodeId(node)), node, f.startSec);
    if (outcome === "stored" && f.sourceIps !== undefined) countIpsDropped(store.addIps(slot, f.startSec, f.sourceIps, f.destIps));
    // Remember only once the label sets are referenced by a window, so the memo stays valid.
    if (remember && outcome === "stored") store.rememberEncoded(SCANNED.sigWords, SCANNED.sigLength, SCANNED.sigHash, slot, src, dst);
    return outcome;
  };

  /** Counts an outcome; rejections are logged rate-limited (never per flow). */
  const account = (outcome: AddOutcome, node: string, startSec: number): AddOutcome => {
    switch (outcome) {
      case "stored":
        break;
      case "duplicate":
        tallies.duplicates++;
        break;
      case "max_unique_flows":
        metrics.dropped.inc();
        metrics.rejected.inc({ reason: outcome });
        limited(outcome, (suppressed) =>
          log.warn({ node, maxUniqueFlows: config.maxUniqueFlows, suppressed }, "flow dropped: MAX_UNIQUE_FLOWS reached"),
        );
        break;
      case "out_of_window":
        metrics.rejected.inc({ reason: outcome });
        limited(outcome, (suppressed) =>
          log.warn(
            { node, startTime: startSec, oldest: store.ring.oldestStart, end: store.ring.endSec, suppressed },
            "flow outside the ring's time range dropped",
          ),
        );
        break;
    }
    return outcome;
  };

  const schedule = () => {
    // Wake on the next W boundary of the wall clock (goldmane-spec §1.2), a little after it so
    // the clock has surely crossed it.
    const now = clock.nowSec();
    const next = store.ring.currentStart + W;
    const delayMs = Math.max(10, (next - now) * 1000 + 5);
    metrics.rolloverLatency.observe(delayMs);
    timer = setTimeout(() => {
      tick();
      schedule();
    }, delayMs);
    timer.unref();
  };

  return {
    store,
    policyStats,
    windowSec: W,
    nowSec: () => clock.nowSec(),
    get lastTickSec() {
      return lastTickSec;
    },
    ingest(flow, node) {
      tick();
      tallies.received++;
      const outcome = account(store.add(flow, nodeId(node)), node, flow.startSec);
      // Only agents that send IPs pay for the second key lookup (DESIGN §6d).
      if (outcome === "stored" && flow.sourceIps !== undefined) countIpsDropped(store.addIps(store.keySlotFor(flow.key)!, flow.startSec, flow.sourceIps, flow.destIps));
      return outcome;
    },
    ingestEncoded(bytes, start, end, node) {
      tick();
      const scan = scanFlowUpdate(bytes, start, end);
      if (scan === "scanned") {
        const s = SCANNED;
        const memo = store.recallEncoded(s.sigWords, s.sigLength, s.sigHash);
        if (memo !== undefined) {
          // A known encoding: its key and labels were validated when first decoded.
          if (s.problem !== null) return rejectAs(s.problem, node);
          tallies.received++;
          return account(store.addToKey(memo.slot, s.startSec, s.endSec, memo.src, memo.dst, s.counters, nodeId(node)), node, s.startSec);
        }
        return ingestDecoded(bytes, start, end, node, true);
      }
      if (scan === "complex") return ingestDecoded(bytes, start, end, node, false);
      return rejectAs(scan, node);
    },
    reject(reason, node) {
      rejectAs(reason, node);
    },
    snapshot() {
      tick();
      return encodeSnapshot(store, [...nodes.keys()], clock.nowSec());
    },
    restore(bytes) {
      tick();
      return restoreSnapshot(store, bytes, nodeId);
    },
    tick,
    nodeNames: () => [...nodes.keys()],
    nodeIdOf: nodeId,
    onReady(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start() {
      if (!timer) schedule();
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
