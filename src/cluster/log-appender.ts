import { SinkCommit, SinkError, type IngestSink } from "../aggregator/ingest-sink.js";
import { decodeFlowUpdate } from "../model/flow-update-decoder.js";
import { scanFlowUpdate } from "../model/flow-update-scan.js";
import type { Logger } from "../observability/logger.js";
import { LogBatchWriter } from "./log-codec.js";
import type { ClusterMetrics } from "./metrics.js";

/** Batching settings of the appender. */
export interface LogAppenderOptions {
  /** Longest time a batch collects updates before it is published (0 = next turn of the loop). */
  batchDelayMs: number;
  /** Most updates in one batch. */
  batchMax: number;
  /** Most bytes in one batch (below the NATS max_payload). */
  batchMaxBytes: number;
  /** Append a time mark when nothing was published for this long (ms). */
  tickIntervalMs: number;
}

export interface LogAppenderDeps {
  /** Appends one entry and resolves with its stream sequence once JetStream acknowledged it. */
  publish(entry: Buffer): Promise<number>;
  metrics: ClusterMetrics;
  log: Logger;
  /** Wall clock, Unix ms (the receive time written into each entry). */
  nowMs?: () => number;
}

/** The ingest side of cluster mode: an {@link IngestSink} that appends to the log. */
export interface LogAppender extends IngestSink {
  /** True while appends succeed; false before the first and after a failed one. */
  readonly healthy: boolean;
  /** Sequence of the last acknowledged entry (0 = none yet). */
  readonly lastSequence: number;
  /** Starts the time marks (the first one probes the log at once). */
  start(): void;
  /** Publishes what is collected and waits for every entry in flight (failures are not thrown). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Collects updates from every connection into one batch for at most `batchDelayMs` or
 * `batchMax` updates, publishes it as one log entry, and settles the batch's commit with
 * JetStream's acknowledgement: receipts are released only then (issue 14 item 1). A failed or
 * timed-out publish fails the batch with SinkError("unavailable") and marks the log down:
 * while down, updates are refused at once (their calls end with UNAVAILABLE and agents replay
 * elsewhere or later) and readiness is 503; the periodic time mark probes the log and brings it
 * back up. An update whose delivery is unknown (a timeout after the server stored it) may be in
 * the log twice once the agent replays it: replicas drop the second copy with the dedup claims.
 */
export function createLogAppender(opts: LogAppenderOptions, deps: LogAppenderDeps): LogAppender {
  const { metrics, log } = deps;
  const nowMs = deps.nowMs ?? Date.now;
  const writer = new LogBatchWriter();
  let batch: SinkCommit | null = null;
  /** When the open batch took its first update (performance.now()). */
  let batchOpenedAt = 0;
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;
  let healthy = false;
  let lastSequence = 0;
  let lastPublishMs = 0;
  let tickTimer: NodeJS.Timeout | undefined;
  let tickInFlight = false;
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();
  const refused = SinkCommit.failed(new SinkError("unavailable", "the flow log (NATS JetStream) is unavailable"));

  const setHealthy = (ok: boolean, why?: unknown) => {
    if (ok === healthy) return;
    healthy = ok;
    metrics.logUp.set(ok ? 1 : 0);
    if (ok) log.info({ sequence: lastSequence }, "flow log reachable: appending");
    else log.warn({ err: why instanceof Error ? why.message : String(why) }, "flow log unreachable: ingest calls end with UNAVAILABLE until it is back");
  };
  metrics.logUp.set(0);

  /** Publishes `entry`; resolves with its sequence, rejects on failure (and marks the log down). */
  const publish = (entry: Buffer): Promise<number> => {
    lastPublishMs = nowMs();
    const p = deps.publish(entry).then(
      (seq) => {
        if (seq > lastSequence) lastSequence = seq;
        setHealthy(true);
        return seq;
      },
      (err: unknown) => {
        metrics.publishFailures.inc();
        setHealthy(false, err);
        throw err;
      },
    );
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  };

  const seal = () => {
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = null;
    immediate = null;
    const b = batch;
    batch = null;
    if (!b) return;
    const openedAt = batchOpenedAt;
    const n = writer.count;
    const entry = writer.seal(nowMs());
    metrics.batchUpdates.observe(n);
    metrics.batchBytes.observe(entry.length);
    const t0 = performance.now();
    publish(entry).then(
      () => {
        const now = performance.now();
        metrics.appendLatency.observe((now - t0) / 1000);
        metrics.receiptWait.observe((now - openedAt) / 1000);
        metrics.appendedUpdates.inc(n);
        b.settle();
      },
      (err: unknown) => b.settle(new SinkError("unavailable", `the flow log did not acknowledge the update: ${err instanceof Error ? err.message : String(err)}`)),
    );
  };

  const tick = () => {
    if (tickInFlight || batch !== null) return;
    if (healthy && nowMs() - lastPublishMs < opts.tickIntervalMs) return;
    tickInFlight = true;
    // A time mark: an entry without records (moves the replicas' clocks; probes the log).
    publish(writer.seal(nowMs())).then(
      () => (tickInFlight = false),
      () => (tickInFlight = false),
    );
  };

  return {
    get healthy() {
      return healthy;
    },
    get lastSequence() {
      return lastSequence;
    },
    encoded(bytes, start, end, node) {
      // Reject what the replicas could not decode now, while the agent can still be told
      // (INVALID_ARGUMENT): the scan walks the framing; only unusual encodings get a full decode.
      if (scanFlowUpdate(bytes, start, end, false) === "complex") decodeFlowUpdate(bytes, start, end);
      if (end - start + 64 > opts.batchMaxBytes) {
        throw new SinkError("too_large", `update of ${end - start} bytes exceeds the log's limit of ${opts.batchMaxBytes - 64} bytes`);
      }
      if (!healthy || stopped) {
        metrics.refusedUpdates.inc();
        return refused;
      }
      if (batch !== null && writer.bodyBytes + (end - start) + 6 > opts.batchMaxBytes) seal();
      if (batch === null) {
        batch = new SinkCommit();
        batchOpenedAt = performance.now();
        if (opts.batchDelayMs > 0) timer = setTimeout(seal, opts.batchDelayMs);
        else immediate = setImmediate(seal);
      }
      writer.add(node, bytes, start, end);
      const b = batch;
      if (writer.count >= opts.batchMax) seal();
      return b;
    },
    start() {
      tick();
      tickTimer = setInterval(tick, Math.max(50, Math.min(opts.tickIntervalMs, 1000)));
      tickTimer.unref();
    },
    async flush() {
      seal();
      await Promise.allSettled([...inFlight]);
    },
    async stop() {
      stopped = true;
      if (tickTimer) clearInterval(tickTimer);
      seal();
      await Promise.allSettled([...inFlight]);
    },
  };
}
