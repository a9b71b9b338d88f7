import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** Why an append was not acknowledged: JetStream refused it, nothing answered, or no answer came in time. */
export class AppendError extends Error {
  constructor(
    readonly reason: "refused" | "no_responders" | "timeout" | "closed",
    message: string,
  ) {
    super(message);
    this.name = "AppendError";
  }
}

/** Appends entries to a JetStream stream, each acknowledged with its sequence. */
export interface LogPublisher {
  /** Resolves with the entry's stream sequence once JetStream stored it; rejects with an {@link AppendError}. */
  publish(entry: Uint8Array): Promise<number>;
  /** Rejects what still waits for an acknowledgement and stops listening for acknowledgements. */
  close(): void;
}

interface Waiting {
  resolve(seq: number): void;
  reject(err: AppendError): void;
  deadline: number;
}

/**
 * Publishes each entry as a core NATS message on `subject` with a reply subject of its own under
 * one inbox subscription, and settles it with the PubAck that JetStream sends there.
 *
 * Why not `js.publish`: it makes each append a nats.js request (a header block, a timer armed and
 * cancelled, a deferred, and an Error built when the request completes), which cost an ingest
 * replica ~6 µs of CPU per flow under Felix-shaped load (~10 % of its CPU; BENCHMARKS.md). The
 * wire and the acknowledgement are the same: a PubAck `{"stream":…,"seq":…}`, an error object
 * when the stream refused the message, or a 503 status when no stream listens on the subject.
 *
 * Timeouts are swept, not timed one by one: an append is rejected between `timeoutMs` and
 * `timeoutMs` + a sweep interval after it was published. Appends are settled in any order, as
 * acknowledgements come (a cluster's leader may answer out of order across a leader change).
 */
export function createLogPublisher(nc: NatsConnection, subject: string, timeoutMs: number): LogPublisher {
  const inbox = createInbox();
  const prefix = inbox.length + 1;
  /** In publish order, which is deadline order: the sweep stops at the first one not due. */
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  let sweeper: NodeJS.Timeout | null = null;
  let closed = false;
  const sweepEveryMs = Math.max(10, Math.min(250, Math.floor(timeoutMs / 4)));

  const onAck = (m: Msg) => {
    const id = Number(m.subject.slice(prefix));
    const w = waiting.get(id);
    if (!w) return; // timed out already
    waiting.delete(id);
    if (m.data.length === 0 && m.headers?.code === 503) {
      w.reject(new AppendError("no_responders", `no JetStream stream listens on ${subject} (no responders)`));
      return;
    }
    let ack: { seq?: unknown; error?: { code?: number; description?: string } };
    try {
      ack = m.json<typeof ack>();
    } catch {
      w.reject(new AppendError("refused", `JetStream answered with something that is not a PubAck`));
      return;
    }
    if (ack.error) w.reject(new AppendError("refused", `JetStream refused the entry: ${ack.error.description ?? "unknown error"} (${ack.error.code ?? "?"})`));
    else if (typeof ack.seq === "number" && ack.seq > 0) w.resolve(ack.seq);
    else w.reject(new AppendError("refused", "JetStream answered with a PubAck without a sequence"));
  };
  const sub: Subscription = nc.subscribe(`${inbox}.*`, { callback: (err, m) => (err ? undefined : onAck(m)) });

  const sweep = () => {
    const now = performance.now();
    for (const [id, w] of waiting) {
      if (w.deadline > now) break;
      waiting.delete(id);
      w.reject(new AppendError("timeout", `the log did not acknowledge the entry within ${timeoutMs} ms`));
    }
    if (waiting.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = null;
    }
  };

  return {
    publish(entry) {
      if (closed || nc.isClosed()) return Promise.reject(new AppendError("closed", "the connection to the log is closed"));
      const id = ++nextId;
      return new Promise<number>((resolve, reject) => {
        waiting.set(id, { resolve, reject, deadline: performance.now() + timeoutMs });
        if (!sweeper) {
          sweeper = setInterval(sweep, sweepEveryMs);
          sweeper.unref();
        }
        try {
          nc.publish(subject, entry, { reply: `${inbox}.${id}` });
        } catch (e) {
          waiting.delete(id);
          reject(new AppendError("closed", `cannot publish to the log: ${(e as Error).message}`));
        }
      });
    },
    close() {
      closed = true;
      sub.unsubscribe();
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      for (const w of waiting.values()) w.reject(new AppendError("closed", "the log publisher was closed"));
      waiting.clear();
    },
  };
}
