import type * as http2 from "node:http2";
import { toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Aggregator } from "../aggregator/aggregator.js";
import { withScope } from "../auth/index.js";
import { FlowResultSchema, FlowStreamRequestSchema, type FlowResult, type FlowStreamRequest } from "../gen/goldmane/api_pb.js";
import type { Logger } from "../observability/logger.js";
import { StreamEndedError, type StreamHub, type StreamSubscription } from "../stream/index.js";
import { parseStreamRequest } from "./flows-stream.js";
import { queryContext } from "./flows-list.js";
import { acceptCall, cutOffAfterStatus, decodeRequest, readRequestMessage, statusOf, type AuthorizeHeaders } from "./fast-lane-call.js";
import { GRPC_OK, encodeGrpcMessage, grpcFrame, isGrpcCallTo, parseGrpcTimeout, respondTrailersOnly } from "./grpc-frames.js";
import { filterSpec } from "./parse-request.js";

/** The one method the stream fast lane serves. */
export const STREAM_PATH = "/goldmane.Flows/Stream";

export interface StreamFastLaneDeps {
  aggregator: Aggregator;
  hub: StreamHub;
  log: Logger;
  maxMessageBytes: number;
  /** Aborted when the server shuts down: open streams end with UNAVAILABLE. */
  shutdownSignal: AbortSignal;
  /**
   * Decides the call from its raw headers as the Connect interceptor decides a Connect call
   * (Auth.authorizeHeaders); throws an AuthError to refuse it. Absent = anonymous.
   */
  authorize?: AuthorizeHeaders;
}

/**
 * Each result's gRPC frame, serialised once: the results of a live batch are the same objects for
 * every stream (stream-hub.ts), so with 100 streams a result is encoded once, not 100 times. The
 * bytes are those of `toBinary(FlowResultSchema, r)`, as on the Connect path.
 */
const frames = new WeakMap<FlowResult, Buffer>();
function frameOf(r: FlowResult): Buffer {
  let f = frames.get(r);
  if (f === undefined) {
    f = grpcFrame(toBinary(FlowResultSchema, r));
    frames.set(r, f);
  }
  return f;
}

/** Frames gathered into one write at most; a bigger batch is written in pieces of this size. */
const MAX_WRITE_BYTES = 1 << 20;
/** While blocked on a full HTTP/2 stream, how often to check whether the hub ended the stream. */
const ENDED_POLL_MS = 250;

/**
 * The stream fast lane (DESIGN §5): `goldmane.Flows/Stream` over gRPC (HTTP/2, binary protobuf)
 * served directly on the HTTP/2 stream instead of through Connect's generic per-message streaming
 * machinery. It reads the one request message (gRPC framing, grpc-encoding gzip/identity,
 * MAX_MESSAGE_BYTES), authorises the call like the Connect interceptor, subscribes exactly as
 * flows-stream.ts does, and writes every result available at once as one HTTP/2 write of cached
 * frames, honouring back-pressure. Status, grpc-timeout, cancellation and shutdown follow gRPC's
 * rules; gRPC-web, Connect and JSON streams stay on Connect.
 *
 * Returns a stream hook for {@link createRpcListener}: true when it took the stream.
 */
export function createStreamFastLane(deps: StreamFastLaneDeps) {
  const { aggregator, hub, log } = deps;
  /** Open calls, ended together at shutdown (one listener on the signal, not one per call). */
  const open = new Set<(code: Code, message: string) => void>();
  const onShutdown = () => {
    for (const end of [...open]) end(Code.Unavailable, "server is shutting down");
  };
  deps.shutdownSignal.addEventListener("abort", onShutdown, { once: true });

  return (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean => {
    if (!isGrpcCallTo(headers, STREAM_PATH)) return false;
    serve(stream, headers);
    return true;
  };

  function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const call = acceptCall(stream, headers, deps.authorize, log, "stream");
    if (call === undefined) return;
    const { encoding, auth } = call;
    if (deps.shutdownSignal.aborted) {
      respondTrailersOnly(stream, Code.Unavailable, "server is shutting down");
      return;
    }

    /** Aborted when the call ends, however it ends: wakes the relay loop. */
    const ended = new AbortController();
    let finished = false;
    let headersSent = false;
    let sub: StreamSubscription | undefined;
    let timer: NodeJS.Timeout | undefined;

    const cleanup = () => {
      if (timer) clearTimeout(timer);
      open.delete(finish);
      // Frees the queue and the MAX_STREAMS slot as soon as the call ends, however it ends.
      sub?.close();
      ended.abort();
    };

    function finish(code: Code | typeof GRPC_OK, message = ""): void {
      if (finished) return;
      finished = true;
      cleanup();
      if (stream.destroyed || stream.closed) return;
      if (!headersSent) {
        headersSent = true;
        respondTrailersOnly(stream, code, message);
      } else {
        const trailers: http2.OutgoingHttpHeaders = { "grpc-status": String(code) };
        if (message) trailers["grpc-message"] = encodeGrpcMessage(message);
        stream.once("wantTrailers", () => stream.sendTrailers(trailers));
        stream.end();
      }
      cutOffAfterStatus(stream, deps.shutdownSignal.aborted);
    }

    const fail = (e: unknown) => {
      if (e instanceof StreamEndedError) return finish(e.reason === "closed" ? Code.Unavailable : Code.ResourceExhausted, e.message);
      const status = statusOf(e);
      if (status) return finish(status.code, status.message);
      log.error({ err: e }, "fast-lane stream failed");
      finish(Code.Internal, "internal error");
    };

    open.add(finish);
    const onGone = () => {
      // Client cancel (RST_STREAM) or the connection went away: nothing more can be sent.
      finished = true;
      cleanup();
    };
    stream.on("close", onGone);
    stream.on("aborted", onGone);
    stream.on("error", onGone);
    const timeoutMs = parseGrpcTimeout(headers["grpc-timeout"]);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => finish(Code.DeadlineExceeded, "deadline exceeded"), timeoutMs);
      timer.unref();
    }

    // The request: exactly one message, then end of stream (as Connect requires of a unary input).
    readRequestMessage(
      stream,
      { encoding, maxBytes: deps.maxMessageBytes, kind: "server_streaming", ended: () => finished },
      (payload) => {
        let req: FlowStreamRequest;
        try {
          req = decodeRequest(FlowStreamRequestSchema, payload);
        } catch (e) {
          return fail(e);
        }
        start(req);
      },
      fail,
    );

    /** What flows-stream.ts does: parse, check scope, subscribe, then relay until the call ends. */
    function start(req: FlowStreamRequest): void {
      try {
        const sr = parseStreamRequest(req, queryContext(aggregator));
        // A namespace-scoped QUERY token sees only its flows, backfill and live (issue 8).
        auth.requireInScope(filterSpec(req.filter));
        sub = hub.subscribe({ ...sr, filter: withScope(sr.filter, auth.scope) });
      } catch (e) {
        return fail(e);
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "gzip,identity" }, { waitForTrailers: true });
      headersSent = true;
      relay(sub).catch(fail);
    }

    async function relay(s: StreamSubscription): Promise<void> {
      const signal = ended.signal;
      while (!signal.aborted) {
        let batch: Buffer[] = [];
        let bytes = 0;
        let end: unknown;
        try {
          let r: FlowResult | undefined;
          while ((r = s.take()) !== undefined) {
            const f = frameOf(r);
            batch.push(f);
            bytes += f.length;
            if (bytes >= MAX_WRITE_BYTES) {
              if (!write(batch, bytes)) await writable(s);
              if (signal.aborted) return;
              batch = [];
              bytes = 0;
            }
          }
        } catch (e) {
          end = e; // the hub ended the stream: send what was taken, then the status
        }
        if (batch.length > 0 && !write(batch, bytes) && end === undefined) await writable(s);
        if (end !== undefined) return fail(end);
        if (signal.aborted) return;
        await s.wait(signal);
      }
    }

    /** One HTTP/2 write for the whole batch; false when the stream's buffer is full. */
    function write(batch: Buffer[], bytes: number): boolean {
      if (finished || stream.destroyed) return true;
      return stream.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, bytes));
    }

    /**
     * Resolves once the stream drained, or the call ended, or the hub ended the subscription (its
     * queue bound: a consumer this slow gets RESOURCE_EXHAUSTED from the next take()).
     */
    function writable(s: StreamSubscription): Promise<void> {
      return new Promise<void>((resolve) => {
        const done = () => {
          stream.off("drain", done);
          ended.signal.removeEventListener("abort", done);
          clearInterval(poll);
          resolve();
        };
        stream.once("drain", done);
        ended.signal.addEventListener("abort", done);
        const poll = setInterval(() => {
          // An ended subscription has an empty queue and throws from take(); an open one with an
          // empty queue returns undefined and loses nothing.
          if (s.queued !== 0) return;
          try {
            s.take();
          } catch {
            done();
          }
        }, ENDED_POLL_MS);
        poll.unref();
      });
    }
  }
}
