/**
 * Where received FlowUpdates go (DESIGN §9). The ingest paths (`server/ingest-fast-lane.ts`,
 * `server/collector-service.ts`) hand each encoded update to a sink when one is configured and
 * write its receipt only once the promise the sink returned has resolved. Without a sink they
 * store into the local aggregator synchronously, as in the embedded mode.
 *
 * In cluster mode the sink is the NATS log appender (`cluster/log-appender.ts`): updates from many
 * connections share one batch, hence one promise per batch — the same object is returned for
 * every update of the batch, so a caller can await each distinct one once.
 */
export interface IngestSink {
  /**
   * Takes one encoded goldmane.FlowUpdate `bytes[start, end)` reported by `node`; the bytes are
   * copied before the call returns. The promise resolves once the update is durable and rejects
   * with a {@link SinkError} otherwise. Throws DecodeError (model/wire-reader.ts) for bytes that
   * are not a FlowUpdate, and a SinkError("too_large") for an update the sink cannot carry.
   */
  encoded(bytes: Uint8Array, start: number, end: number, node: string): Promise<void>;
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
