import type { Aggregator } from "../aggregator/aggregator.js";
import { DecodeError } from "../model/wire-reader.js";
import type { Logger } from "../observability/logger.js";
import type { LogClock } from "./log-clock.js";
import { LogEntryError, NodeNameCache, logEntryTimeMs, readLogEntry } from "./log-codec.js";
import type { ClusterMetrics } from "./metrics.js";
import type { LogMessage } from "./nats-log.js";

/** Where the replica reads the log from (cluster/nats-log.ts; a plain list in unit tests). */
export interface LogSource {
  bounds(): Promise<{ first: number; last: number }>;
  read(fromSeq: number): Promise<AsyncIterable<LogMessage> & { close(): Promise<void> }>;
}

export interface LogReplicaDeps {
  source: LogSource;
  aggregator: Aggregator;
  clock: LogClock;
  metrics: ClusterMetrics;
  log: Logger;
  /** Wall clock, Unix ms (lag in seconds only; never used for a decision on the data). */
  nowMs?: () => number;
}

/** A replica's consumer of the log (issue 14 items 2 and 4). */
export interface LogReplica {
  /** Sequence of the last applied message (0 = none). */
  readonly appliedSeq: number;
  /** True once the replica caught up with the log (lag under one window); stays true. */
  readonly caughtUp: boolean;
  /** Starts applying after `afterSeq` (a snapshot's sequence, or 0 for the whole log). */
  start(afterSeq: number): void;
  /** Applies one log message (the consumer loop calls this; exposed for tests and benches). */
  apply(m: LogMessage): void;
  stop(): Promise<void>;
}

/**
 * Consumes the whole stream in order (an ordered consumer from `afterSeq + 1`) and applies each
 * entry to the local aggregator. Time for every decision comes from the entries: the log clock
 * moves to an entry's receive time before its updates are ingested (DESIGN §9), so replicas that
 * applied the same prefix hold the same state and give the same answers.
 */
export function createLogReplica(deps: LogReplicaDeps): LogReplica {
  const { aggregator, clock, metrics, log, source } = deps;
  const nowMs = deps.nowMs ?? Date.now;
  const W = aggregator.windowSec;
  let appliedSeq = 0;
  let caughtUp = false;
  let startSeq = 0;
  let targetSeq = 0;
  let stopped = false;
  let reader: { close(): Promise<void> } | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let lastProgressLog = 0;
  let loop: Promise<void> | undefined;
  const names = new NodeNameCache();

  const visit = (node: string, bytes: Uint8Array, start: number, end: number) => {
    try {
      aggregator.ingestEncoded(bytes, start, end, node);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      metrics.badEntries.inc({ what: "update" });
    }
  };

  const markCaughtUp = () => {
    if (caughtUp) return;
    caughtUp = true;
    metrics.replayProgress.set(1);
    if (checkTimer) clearInterval(checkTimer);
    log.info({ sequence: appliedSeq, logTimeSec: Math.floor(clock.nowSec()) }, "replica caught up with the log");
  };

  const apply = (m: LogMessage) => {
    let n = 0;
    try {
      clock.advanceToMs(logEntryTimeMs(m.data));
      aggregator.tick();
      n = readLogEntry(m.data, visit, names);
    } catch (e) {
      if (!(e instanceof LogEntryError)) throw e;
      metrics.badEntries.inc({ what: "entry" });
      log.warn({ sequence: m.seq, err: e.message }, "log entry skipped: not readable");
    }
    appliedSeq = m.seq;
    metrics.appliedSequence.set(m.seq);
    metrics.appliedUpdates.inc(n);
    metrics.lagMessages.set(m.pending);
    const lagSec = m.pending > 0 ? Math.max(0, (nowMs() - clock.nowMs()) / 1000) : 0;
    metrics.lagSeconds.set(lagSec);
    if (!caughtUp) {
      if (targetSeq > startSeq) metrics.replayProgress.set(Math.min(1, (m.seq - startSeq) / (targetSeq - startSeq)));
      if (m.pending === 0 || lagSec < W) markCaughtUp();
      else if (nowMs() - lastProgressLog > 5000) {
        lastProgressLog = nowMs();
        log.info({ sequence: m.seq, target: targetSeq, pending: m.pending }, "replaying the log");
      }
    }
  };

  const run = async (afterSeq: number) => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        const it = await source.read(appliedSeq + 1);
        reader = it;
        if (stopped) break;
        for await (const m of it) {
          if (stopped) break;
          if (m.seq <= appliedSeq) continue;
          apply(m);
        }
      } catch (e) {
        if (stopped) break;
        log.warn({ err: (e as Error).message, sequence: appliedSeq }, "log consumer failed; retrying");
      }
      if (!stopped) await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
    }
    void afterSeq;
  };

  return {
    get appliedSeq() {
      return appliedSeq;
    },
    get caughtUp() {
      return caughtUp;
    },
    apply,
    start(afterSeq) {
      appliedSeq = afterSeq;
      startSeq = afterSeq;
      metrics.appliedSequence.set(afterSeq);
      metrics.replayProgress.set(0);
      // Catch-up check: an empty (or already applied) log has no message to tell us.
      const check = () => {
        source.bounds().then(
          (b) => {
            if (targetSeq === 0) targetSeq = b.last;
            if (b.last <= appliedSeq) markCaughtUp();
            else if (!caughtUp) metrics.lagMessages.set(b.last - appliedSeq);
          },
          () => undefined,
        );
      };
      check();
      checkTimer = setInterval(check, 1000);
      checkTimer.unref();
      log.info({ fromSequence: afterSeq + 1 }, "replica consuming the log");
      loop = run(afterSeq);
    },
    async stop() {
      stopped = true;
      if (checkTimer) clearInterval(checkTimer);
      await reader?.close().catch(() => undefined);
      await loop;
    },
  };
}
