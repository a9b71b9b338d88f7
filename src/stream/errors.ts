/** Why the hub refused or ended a stream. */
export type StreamEndReason =
  /** MAX_STREAMS subscriptions are open (refused at subscribe). */
  | "max_streams"
  /** A live stream's queue went past its bound: the consumer does not keep up. */
  | "queue_full"
  /** A bucket the stream still had to send was recycled first (a lagging stream, a clock jump). */
  | "expired"
  /** The hub was closed (server shutdown). */
  | "closed";

/**
 * A stream the hub refused or ended. Pure module error (STYLE.md §4): `server/` maps it to a
 * gRPC code (RESOURCE_EXHAUSTED for the limits, UNAVAILABLE for "closed").
 */
export class StreamEndedError extends Error {
  constructor(
    readonly reason: StreamEndReason,
    message: string,
  ) {
    super(message);
    this.name = "StreamEndedError";
  }
}

/** Goldmane's text for the stream limit (goldmane-spec §5.1). */
export const MAX_STREAMS_MESSAGE = "max number of streams reached, try again later";
