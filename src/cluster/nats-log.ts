import * as fs from "node:fs";
import * as os from "node:os";
import { AuthorizationError, connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type ConsumerMessages, jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { ConfigError } from "../config/parse.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { Logger } from "../observability/logger.js";
import { createLogPublisher } from "./log-publisher.js";
import { readLogInThread } from "./log-reader-thread.js";

/** The settings the NATS side reads (a Pick, so tests build it without the whole config). */
export type NatsLogConfig = Pick<
  ServeConfig,
  | "natsUrl"
  | "natsCredsPath"
  | "natsCaPath"
  | "natsCertPath"
  | "natsKeyPath"
  | "clusterStream"
  | "clusterStreamReplicas"
  | "clusterRole"
  | "clusterAppendTimeoutMs"
  | "windowSec"
  | "historyBuckets"
  | "replayHorizonSec"
>;

/** One log message as the replica sees it. */
export interface LogMessage {
  seq: number;
  data: Uint8Array;
  /** Messages after this one in the stream when it was delivered. */
  pending: number;
}

/** A readable, appendable log: the one place that talks to JetStream streams. */
export interface NatsLog {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly subject: string;
  /** Appends `entry`; resolves with its sequence once acknowledged (rejects after the timeout). */
  publish(entry: Uint8Array): Promise<number>;
  /** Sequence of the newest message in the stream (0 = empty), and of the oldest retained. */
  bounds(): Promise<{ first: number; last: number }>;
  /**
   * Messages from sequence `fromSeq` on, in order, for as long as it is iterated: received and
   * parsed on a thread of their own (cluster/log-reader-thread.ts).
   */
  read(fromSeq: number): Promise<AsyncIterable<LogMessage> & { close(): Promise<void> }>;
  close(): Promise<void>;
}

/**
 * Log entries one pull asks for (the client pulls again at 75 %). At most 900 KiB each
 * (cluster/index.ts), 48 of them stay under nats-server's per-client max_pending (64 MiB).
 */
const CONSUME_MAX_MESSAGES = 48;

/** Retention of the stream: the history, the replay horizon and a margin (issue 14 item 1). */
export function streamMaxAgeSec(c: Pick<ServeConfig, "windowSec" | "historyBuckets" | "replayHorizonSec">): number {
  return (c.historyBuckets + 2) * c.windowSec + c.replayHorizonSec + 600;
}

/** Connection options from NATS_URL, NATS_CREDS_PATH and the NATS TLS files (read now: ConfigError). */
export function natsConnectionOptions(c: NatsLogConfig): NodeConnectionOptions {
  const read = (file: string, variable: string) => {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new ConfigError(variable, `cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const opts: NodeConnectionOptions = {
    servers: c.natsUrl.split(","),
    name: `tributary-${c.clusterRole}-${os.hostname()}`,
    // Keep trying for as long as the process lives: the log coming back is the normal case.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    // A stalled server (not a closed socket) is noticed within ~15 s.
    pingInterval: 5000,
    maxPingOut: 3,
    timeout: Math.max(2000, c.clusterAppendTimeoutMs),
    // Every request (the consumer's pulls, the snapshot bucket, the stream's management) would
    // otherwise build three Error objects with stack traces for a timeout that rarely comes; when
    // appends were requests this was ~1 % of an ingest replica's CPU. Our errors are logged by
    // their messages, which say what failed.
    noAsyncTraces: true,
  };
  if (c.natsCredsPath) {
    const creds = read(c.natsCredsPath, "NATS_CREDS_PATH");
    opts.authenticator = credsAuthenticator(new Uint8Array(creds));
  }
  if (c.natsCaPath || c.natsCertPath) {
    read(c.natsCaPath || c.natsCertPath, c.natsCaPath ? "NATS_CA_PATH" : "NATS_CERT_PATH");
    if (c.natsCertPath) read(c.natsKeyPath, "NATS_KEY_PATH");
    opts.tls = {
      ...(c.natsCaPath ? { caFile: c.natsCaPath } : {}),
      ...(c.natsCertPath ? { certFile: c.natsCertPath, keyFile: c.natsKeyPath } : {}),
    };
  }
  return opts;
}

/**
 * Connects, waiting for the servers as long as it takes. A server that refuses the credentials is
 * a configuration error (exit 2 with the variable to fix), not a transient one: nats.js gives up
 * after the second refusal, and retrying would not change the answer. `suffix` tells this
 * process's connections apart in the server's list (the log reader's is `-reader`).
 */
export async function connectToLog(c: NatsLogConfig, suffix = ""): Promise<NatsConnection> {
  try {
    const opts = natsConnectionOptions(c);
    opts.name += suffix;
    return await connect(opts);
  } catch (e) {
    if (!(e instanceof AuthorizationError)) throw e;
    throw c.natsCredsPath
      ? new ConfigError("NATS_CREDS_PATH", `the NATS server (${c.natsUrl}) refused the credentials in ${c.natsCredsPath}: ${e.message}`)
      : new ConfigError("NATS_URL", `the NATS server (${c.natsUrl}) requires credentials (${e.message}): set NATS_CREDS_PATH to a .creds file`);
  }
}

/**
 * The stream's messages from sequence `fromSeq` on, through an ordered consumer that the client
 * keeps going across reconnects.
 */
export async function consumeLog(js: JetStreamClient, stream: string, fromSeq: number): Promise<ConsumerMessages> {
  const consumer = await js.consumers.get(
    stream,
    fromSeq <= 1 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq },
  );
  // Bounded so that a pull fits the server's max_pending: 512 entries of ~900 KiB pulled at
  // once while a replica replays a backlog exceed it (64 MiB), and the server then cuts the
  // connection as a slow consumer, again and again. Not by max_bytes: with it, nats.js also
  // caps a pull at 100 messages and its byte accounting goes stale when the server ends a pull
  // at that count, so a live tail stalled until the pull expired (30 s behind the log).
  return consumer.consume({ max_messages: CONSUME_MAX_MESSAGES });
}

/**
 * Connects to NATS (waiting for it as long as it takes) and makes sure the stream exists:
 * `CLUSTER_STREAM` on subject `<stream>.log`, file storage, `CLUSTER_STREAM_REPLICAS` copies,
 * limits retention by age ({@link streamMaxAgeSec}), oldest discarded.
 */
export async function openNatsLog(c: NatsLogConfig, log: Logger): Promise<NatsLog> {
  const nc = await connectToLog(c);
  const jsm: JetStreamManager = await jetstreamManager(nc, { timeout: Math.max(2000, c.clusterAppendTimeoutMs) });
  const js = jetstream(nc, { timeout: c.clusterAppendTimeoutMs });
  const subject = `${c.clusterStream}.log`;
  const maxAgeNs = streamMaxAgeSec(c) * 1e9;
  await ensureStream(jsm, c, subject, maxAgeNs, log);
  const publisher = createLogPublisher(nc, subject, c.clusterAppendTimeoutMs);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log.warn({ status: s.type, server: (s as { server?: string }).server }, `NATS ${s.type}`);
    }
  })().catch(() => undefined);

  return {
    nc,
    js,
    subject,
    publish: (entry) => publisher.publish(entry),
    async bounds() {
      const info = await jsm.streams.info(c.clusterStream);
      return { first: info.state.first_seq, last: info.state.last_seq };
    },
    read: (fromSeq) => readLogInThread(c, fromSeq),
    async close() {
      publisher.close();
      await nc.drain().catch(() => nc.close());
    },
  };
}

async function ensureStream(jsm: JetStreamManager, c: NatsLogConfig, subject: string, maxAgeNs: number, log: Logger): Promise<void> {
  const want = {
    name: c.clusterStream,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: c.clusterStreamReplicas,
    max_age: maxAgeNs,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(c.clusterStream);
      if (info.config.max_age !== maxAgeNs) {
        await jsm.streams.update(c.clusterStream, { max_age: maxAgeNs });
        log.info({ stream: c.clusterStream, maxAgeSec: maxAgeNs / 1e9 }, "stream retention updated");
      }
      if (info.config.num_replicas !== c.clusterStreamReplicas) {
        log.warn({ stream: c.clusterStream, replicas: info.config.num_replicas, want: c.clusterStreamReplicas }, "stream exists with another CLUSTER_STREAM_REPLICAS; kept as it is");
      }
      return;
    } catch (e) {
      if (!/not found/i.test((e as Error).message)) {
        if (attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
    }
    try {
      await jsm.streams.add(want);
      log.info({ stream: c.clusterStream, subject, replicas: c.clusterStreamReplicas, maxAgeSec: maxAgeNs / 1e9 }, "stream created");
      return;
    } catch (e) {
      // Another replica may have created it meanwhile: look again.
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
