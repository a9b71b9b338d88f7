/** The stream/ folder's public surface (STYLE.md §1). */
export { createStreamHub, type StreamHub, type StreamHubConfig, type StreamHubDeps, type StreamRequest, type StreamSource, type StreamSubscription } from "./stream-hub.js";
export { MAX_STREAMS_MESSAGE, StreamEndedError, type StreamEndReason } from "./errors.js";
export { streamMetrics, type StreamMetrics } from "./metrics.js";
