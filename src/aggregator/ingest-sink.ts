/**
 * Where received FlowUpdates go (DESIGN §9). The ingest paths (`server/ingest-fast-lane.ts`,
 * `server/collector-service.ts`) hand each encoded update to a sink when one is configured and
 * write its receipt only once the commit the sink returned has settled without an error. Without a
 * sink they store into the local aggregator synchronously, as in the embedded mode.
 *
 * In cluster mode the sink is the NATS log appender (`cluster/log-appender.ts`): updates from many
 * connections share one batch, hence one commit per batch — the same object is returned for every
 * update of the batch, so a caller can wait for each distinct one once.
 */
export interface IngestSink {
  /**
   * Takes one encoded goldmane.FlowUpdate `bytes[start, end)` reported by `node`; the bytes are
   * copied before the call returns. The commit settles without an error once the update is
   * durable, and with a {@link SinkError} otherwise. Throws DecodeError (model/wire-reader.ts) for
   * bytes that are not a FlowUpdate, and a SinkError("too_large") for an update the sink cannot
   * carry.
   */
  encoded(bytes: Uint8Array, start: number, end: number, node: string): SinkCommit;
}

/** Why a sink did not take an update: the log is unreachable, or the update is too large for it. */
export class SinkError extends Error {
  constructor(
    readonly reason: "unavailable" | "too_large",
    message: string,
  ) {
    super(message);
    this.name = "SinkError";
  }
}

type Waiter = (err: SinkError | undefined) => void;

/**
 * The outcome of a batch of updates. The fast lane waits on it with {@link whenSettled}: one
 * plain callback per stream, called in the acknowledgement's own turn — a promise per stream cost
 * a microtask and a reaction job for each of the ~20 streams of a batch, which showed in ingest
 * CPU per flow. It is also a thenable, for `await` in the Connect path and in tests.
 */
export class SinkCommit implements PromiseLike<void> {
  private waiters: Waiter[] | null = [];
  private error: SinkError | undefined;

  /** A commit that has already failed with `err` (the log is down). */
  static failed(err: SinkError): SinkCommit {
    const c = new SinkCommit();
    c.settle(err);
    return c;
  }

  get settled(): boolean {
    return this.waiters === null;
  }

  /**
   * Calls `done` once: with no argument when the updates are durable, with the SinkError when they
   * are not. Waiters registered before settlement run synchronously inside {@link settle}, in
   * order; one registered after it runs in a microtask, never inside the caller.
   */
  whenSettled(done: Waiter): void {
    if (this.waiters) this.waiters.push(done);
    else {
      const err = this.error;
      queueMicrotask(() => done(err));
    }
  }

  /** Settles the commit (only the first call counts). A waiter that throws does not stop the rest. */
  settle(err?: SinkError): void {
    const waiters = this.waiters;
    if (!waiters) return;
    this.waiters = null;
    this.error = err;
    for (const done of waiters) {
      try {
        done(err);
      } catch (e) {
        // Surfaces like an exception in an event handler, after the other waiters ran.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  then<A = void, B = never>(onOk?: ((v: void) => A | PromiseLike<A>) | null, onErr?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return new Promise<void>((resolve, reject) => this.whenSettled((err) => (err ? reject(err) : resolve()))).then(onOk, onErr);
  }
}
