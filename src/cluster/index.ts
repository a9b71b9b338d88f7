import type { Registry } from "prom-client";
import type { Aggregator } from "../aggregator/aggregator.js";
import type { IngestSink } from "../aggregator/ingest-sink.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { Logger } from "../observability/logger.js";
import { SnapshotError } from "../storage/snapshot.js";
import { createLogAppender, type LogAppender } from "./log-appender.js";
import type { LogClock } from "./log-clock.js";
import { createLogReplica, type LogReplica } from "./log-replica.js";
import { clusterMetrics } from "./metrics.js";
import type { NatsLog } from "./nats-log.js";
import type { SnapshotStore } from "./snapshot-store.js";

export { createLogClock, type LogClock } from "./log-clock.js";

/** The settings cluster mode reads. */
export type ClusterConfig = Pick<
  ServeConfig,
  | "natsUrl"
  | "natsCredsPath"
  | "natsCaPath"
  | "natsCertPath"
  | "natsKeyPath"
  | "clusterStream"
  | "clusterStreamReplicas"
  | "clusterRole"
  | "clusterSnapshotBucket"
  | "clusterSnapshotIntervalMs"
  | "clusterBatchDelayMs"
  | "clusterBatchMax"
  | "clusterAppendTimeoutMs"
  | "clusterTickIntervalMs"
  | "windowSec"
  | "historyBuckets"
  | "replayHorizonSec"
>;

export interface ClusterDeps {
  log: Logger;
  registry: Registry;
  /** The local store: fed only from the log (roles all and query). */
  aggregator: Aggregator;
  /** The aggregator's clock: moved by the log's receive times. */
  clock: LogClock;
}

/**
 * One replica's part in cluster mode (DESIGN §9), the only interface the server sees: a sink for
 * the ingest paths (roles all and ingest), a health reporter, start and close. Everything NATS
 * lives behind it.
 */
export interface ClusterNode {
  /** Where ingest calls put their updates (undefined for role query). */
  readonly sink: IngestSink | undefined;
  /** Whether the replica consumes the log into its store (roles all and query). */
  readonly aggregates: boolean;
  readonly health: { name: string; live(): boolean; ready(): boolean };
  /** Connects (waiting for NATS), creates the stream if missing, loads a snapshot, starts consuming. */
  start(): Promise<void>;
  /** Flushes appends, writes a last snapshot, stops consuming, closes the connection. */
  close(): Promise<void>;
}

/** Largest log message: below the NATS default max_payload (1 MiB), with room for headers. */
const BATCH_MAX_BYTES = 900 * 1024;

/** Builds the cluster side of a replica; nothing connects before {@link ClusterNode.start}. */
export function createClusterNode(config: ClusterConfig, deps: ClusterDeps): ClusterNode {
  const role = config.clusterRole;
  const stream = config.clusterStream;
  const log = deps.log.child({ module: "cluster", role, stream });
  const metrics = clusterMetrics(deps.registry);
  metrics.info.set({ role, stream }, 1);
  const ingests = role === "all" || role === "ingest";
  const aggregates = role === "all" || role === "query";
  let natsLog: NatsLog | undefined;
  let snapshots: SnapshotStore | undefined;
  let replica: LogReplica | undefined;
  let snapshotTimer: NodeJS.Timeout | undefined;
  let lastSnapshotSeq = 0;
  /** writtenAtMs of this replica's last snapshot (its own write is never a reason to skip). */
  let ownWrittenAtMs = -1;
  let snapshotWriting: Promise<void> | undefined;
  let started = false;
  let closing = false;

  const appender: LogAppender | undefined = ingests
    ? createLogAppender(
        {
          batchDelayMs: config.clusterBatchDelayMs,
          batchMax: config.clusterBatchMax,
          batchMaxBytes: BATCH_MAX_BYTES,
          tickIntervalMs: config.clusterTickIntervalMs,
        },
        {
          publish: (entry) => {
            if (!natsLog) return Promise.reject(new Error("not connected to NATS yet"));
            return natsLog.publish(entry);
          },
          metrics,
          log,
        },
      )
    : undefined;

  /**
   * One turn of snapshot writing. One look at the bucket decides, before the costly encoding,
   * whether to write at all: not when it already holds a snapshot covering this replica's
   * position, and (on the interval) not when another replica wrote one less than half an interval
   * ago. Replicas that applied the same log hold the same state, so one snapshot per interval
   * serves them all, and each costs its writer CPU (at 100 000 keys ~3 s, most of it the object
   * store's SHA-256 in JavaScript). Replicas tick at their own phases: whichever comes second
   * within half an interval of another's write skips its turn, so a cluster writes about once per
   * interval however many replicas aggregate.
   */
  const writeSnapshot = async (why: "interval" | "shutdown") => {
    if (!replica || !snapshots || !replica.caughtUp) return;
    if (replica.appliedSeq <= lastSnapshotSeq) return;
    let seq = replica.appliedSeq;
    try {
      const newest = await snapshots.info();
      // Read after the look at the bucket, in the same turn as the encoding below: the bytes are
      // exactly the state after message `seq` (the replica may have applied more meanwhile).
      seq = replica.appliedSeq;
      if (newest && newest.seq >= seq) {
        lastSnapshotSeq = seq;
        metrics.snapshotWrites.inc({ result: "newer_present" });
        return;
      }
      if (why === "interval" && newest && newest.writtenAtMs !== ownWrittenAtMs && Date.now() - newest.writtenAtMs < config.clusterSnapshotIntervalMs / 2) {
        metrics.snapshotWrites.inc({ result: "recent_present" });
        return;
      }
      const t0 = performance.now();
      const bytes = deps.aggregator.snapshot();
      const writtenAtMs = await snapshots.save(bytes, seq, deps.clock.nowMs());
      lastSnapshotSeq = seq;
      ownWrittenAtMs = writtenAtMs;
      metrics.snapshotWrites.inc({ result: "written" });
      metrics.snapshotBytes.set(bytes.length);
      metrics.snapshotSequence.set(seq);
      log.info({ sequence: seq, bytes: bytes.length, ms: Math.round(performance.now() - t0), why }, "snapshot written to the bucket");
    } catch (err) {
      metrics.snapshotWrites.inc({ result: "failed" });
      log.warn({ err: (err as Error).message, sequence: seq }, "snapshot not written");
    }
  };

  const refreshSnapshotAge = async () => {
    try {
      const i = await snapshots?.info();
      if (i) metrics.snapshotAge.set(Math.max(0, (Date.now() - i.writtenAtMs) / 1000));
    } catch {
      /* the age stays as last seen */
    }
  };

  return {
    sink: appender,
    aggregates,
    health: {
      name: "cluster",
      live: () => true,
      ready: () => started && (!appender || appender.healthy) && (!replica || replica.caughtUp),
    },
    async start() {
      log.info({ servers: config.natsUrl, replicas: config.clusterStreamReplicas }, "cluster mode: connecting to NATS");
      // The NATS clients are imported here, when cluster mode starts, so a plain `serve` never
      // loads them (issue 15: memory at rest).
      const { openNatsLog } = await import("./nats-log.js");
      natsLog = await openNatsLog(config, log);
      log.info({ subject: natsLog.subject }, "connected to NATS; log stream ready");
      if (aggregates) {
        const { openSnapshotStore } = await import("./snapshot-store.js");
        snapshots = await openSnapshotStore(natsLog.nc, config.clusterSnapshotBucket, config.clusterStreamReplicas, config.windowSec);
        let afterSeq = 0;
        try {
          const t0 = performance.now();
          const snap = await snapshots.load();
          if (snap) {
            deps.clock.advanceToMs(snap.logTimeMs);
            const summary = deps.aggregator.restore(snap.bytes);
            afterSeq = snap.seq;
            lastSnapshotSeq = snap.seq;
            metrics.snapshotBytes.set(snap.bytes.length);
            metrics.snapshotSequence.set(snap.seq);
            metrics.snapshotAge.set(Math.max(0, (Date.now() - snap.writtenAtMs) / 1000));
            log.info({ sequence: snap.seq, bytes: snap.bytes.length, ...summary, ms: Math.round(performance.now() - t0) }, "snapshot loaded from the bucket");
          } else {
            log.info({ bucket: config.clusterSnapshotBucket }, "no snapshot in the bucket: replaying the whole retained log");
          }
        } catch (err) {
          if (!(err instanceof SnapshotError)) log.warn({ err: (err as Error).message }, "cannot read the snapshot bucket: replaying the whole retained log");
          else log.warn({ err: err.message }, "snapshot not usable: replaying the whole retained log");
        }
        const bounds = await natsLog.bounds().catch(() => undefined);
        if (bounds && afterSeq > 0 && bounds.first > afterSeq + 1) {
          log.warn({ snapshotSequence: afterSeq, firstRetained: bounds.first }, "the log no longer holds everything after the snapshot: a gap");
        }
        replica = createLogReplica({ source: natsLog, aggregator: deps.aggregator, clock: deps.clock, metrics, log });
        replica.start(afterSeq);
        if (config.clusterSnapshotIntervalMs > 0) {
          snapshotTimer = setInterval(() => {
            if (snapshotWriting) return;
            snapshotWriting = writeSnapshot("interval").finally(() => {
              snapshotWriting = undefined;
              void refreshSnapshotAge();
            });
          }, config.clusterSnapshotIntervalMs);
          snapshotTimer.unref();
        }
      }
      appender?.start();
      started = true;
    },
    async close() {
      if (closing) return;
      closing = true;
      await appender?.stop();
      if (snapshotTimer) clearInterval(snapshotTimer);
      await snapshotWriting;
      if (config.clusterSnapshotIntervalMs > 0) await writeSnapshot("shutdown");
      await replica?.stop();
      await natsLog?.close();
      log.info({ sequence: replica?.appliedSeq ?? appender?.lastSequence }, "cluster mode stopped");
    },
  };
}
