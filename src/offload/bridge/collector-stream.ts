import { createClient, type Transport } from "@connectrpc/connect";
import { FlowCollector, type FlowUpdate } from "../../gen/goldmane/api_pb.js";
import type { Logger } from "../../observability/logger.js";
import { ReplayCache } from "./replay-cache.js";

/** The metadata header naming the reporting node (for session-token identities, issue 8). */
export const NODE_HEADER = "x-tributary-node";

/** Dependencies of {@link createCollectorStream}. */
export interface CollectorStreamDeps {
  transport: Transport;
  log: Logger;
  nowSec: () => number;
  /** Extra request headers (authorization). */
  headers?: Record<string, string>;
  /** Counters: updates written (live or replayed), reconnects. */
  onSent?: (n: number, replay: boolean) => void;
  onReconnect?: () => void;
  /** Reconnect backoff (ms). */
  backoff?: { initialMs: number; maxMs: number };
}

/** One FlowCollector/Connect stream for one node identity. */
export interface CollectorStream {
  readonly node: string;
  /** Queues Flows for sending and keeps them for replay. */
  send(updates: readonly { update: FlowUpdate; endSec: number }[]): void;
  /** Resolves when every update written so far has been receipted (tests; shutdown). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** True while a stream is open. */
  readonly connected: boolean;
  start(): void;
  stop(): Promise<void>;
}

/** A push-driven async iterable of FlowUpdates for one open stream. */
class Outbox implements AsyncIterable<FlowUpdate> {
  private queue: FlowUpdate[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  push(u: FlowUpdate) {
    this.queue.push(u);
    this.wake?.();
  }
  close() {
    this.closed = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/**
 * Sends a node's Flows to the aggregator through `goldmane.FlowCollector/Connect` as a node agent
 * does: one long bidi stream, one receipt per update; on any error or end the stream is reopened
 * after an exponential backoff and the last `replayHorizonSec` of Flows are replayed first (Felix
 * replays its recent history; the server's dedup drops repeats). Flows sent while disconnected
 * wait in the replay cache. The node name travels in the `x-tributary-node` header (ignored by the
 * server until session tokens, issue 8: today the server's node identity is the peer address).
 */
export function createCollectorStream(node: string, replayHorizonSec: number, deps: CollectorStreamDeps): CollectorStream {
  const client = createClient(FlowCollector, deps.transport);
  const cache = new ReplayCache(replayHorizonSec);
  const backoff = deps.backoff ?? { initialMs: 250, maxMs: 30_000 };
  const log = deps.log;
  let outbox: Outbox | undefined;
  let abort: AbortController | undefined;
  let running = false;
  let loop: Promise<void> | undefined;
  let written = 0;
  let receipted = 0;
  const flushWaiters = new Set<() => void>();
  let sleepTimer: NodeJS.Timeout | undefined;
  let wakeSleep: (() => void) | undefined;

  const checkFlushed = () => {
    if (receipted >= written) for (const w of [...flushWaiters]) w();
  };

  async function runOnce(): Promise<boolean> {
    const box = new Outbox();
    abort = new AbortController();
    written = 0;
    receipted = 0;
    cache.prune(deps.nowSec());
    const replay = cache.snapshot();
    for (const u of replay) box.push(u);
    written = replay.length;
    if (replay.length) deps.onSent?.(replay.length, true);
    outbox = box;
    checkFlushed();
    let gotReceipt = false;
    try {
      const receipts = client.connect(box, { signal: abort.signal, headers: { [NODE_HEADER]: node, ...deps.headers } });
      for await (const _ of receipts) {
        gotReceipt = true;
        receipted++;
        checkFlushed();
      }
      if (running) log.warn({ node }, "collector closed the stream, reconnecting");
    } catch (err) {
      if (running) log.warn({ node, err: err instanceof Error ? err.message : String(err) }, "collector stream failed, reconnecting");
    } finally {
      outbox = undefined;
      box.close();
    }
    return gotReceipt || replay.length === 0;
  }

  async function run() {
    let attempt = 0;
    while (running) {
      const healthy = await runOnce();
      if (!running) break;
      deps.onReconnect?.();
      attempt = healthy ? 0 : attempt + 1;
      const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
      await new Promise<void>((resolve) => {
        wakeSleep = resolve;
        sleepTimer = setTimeout(resolve, delay);
      });
      wakeSleep = undefined;
    }
  }

  return {
    node,
    get connected() {
      return outbox !== undefined;
    },
    send(updates) {
      for (const { update, endSec } of updates) {
        cache.add(update, endSec);
        if (outbox) {
          outbox.push(update);
          written++;
        }
      }
      if (outbox && updates.length) deps.onSent?.(updates.length, false);
      cache.prune(deps.nowSec());
    },
    flush(timeoutMs = 10_000) {
      if (outbox && receipted >= written) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(t);
          flushWaiters.delete(onFlush);
          resolve(ok);
        };
        const onFlush = () => {
          if (outbox) done(true);
        };
        const t = setTimeout(() => done(false), timeoutMs);
        flushWaiters.add(onFlush);
      });
    },
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      if (sleepTimer) clearTimeout(sleepTimer);
      wakeSleep?.();
      // Half-close first so receipts of what was written can still arrive; then cut the call.
      outbox?.close();
      const t = setTimeout(() => abort?.abort(), 2000);
      await loop;
      clearTimeout(t);
    },
  };
}
