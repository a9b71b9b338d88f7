import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import type { Aggregator } from "../aggregator/aggregator.js";
import type { CallAuth } from "../auth/index.js";
import { FlowListRequestSchema, type FlowListRequest } from "../gen/goldmane/api_pb.js";
import type { Logger } from "../observability/logger.js";
import { AnswerBuffer } from "./answer-buffer.js";
import { acceptCall, cutOffAfterStatus, decodeRequest, readRequestMessage, statusOf, type AuthorizeHeaders } from "./fast-lane-call.js";
import { listEncoder, RESOLUTION_HEADER, type EncodedList, type HistoryRef } from "./flows-list.js";
import { GRPC_OK, HEADER_BYTES, isGrpcCallTo, parseGrpcTimeout, respondTrailersOnly } from "./grpc-frames.js";

/** The one method the List lane serves. */
export const LIST_PATH = "/goldmane.Flows/List";

export interface ListFastLaneDeps {
  aggregator: Aggregator;
  history?: HistoryRef;
  log: Logger;
  maxMessageBytes: number;
  /** Aborted when the server shuts down: a call not yet answered ends with UNAVAILABLE. */
  shutdownSignal: AbortSignal;
  /** Decides the call from its raw headers as the Connect interceptor does; absent = anonymous. */
  authorize?: AuthorizeHeaders;
}

/** A List answer as the lane writes it. */
export interface ListFrame {
  /** The gRPC message frame: five-byte header, then the FlowListResult. */
  readonly frame: Buffer;
  readonly resolutionSec: number;
}

/**
 * The List lane's answers: each FlowListResult encoded by {@link listEncoder} behind a five-byte
 * gRPC header written in place, into the {@link AnswerBuffer} when it is free. whisker-backend asks
 * for every row (no page_size): at 100 000 keys the answer is ~40 MB, which the Connect path
 * copies three times more (protobuf-es writes unknown fields into a buffer of its own and slices
 * it, then the gRPC envelope) — and fresh memory of that size costs ~100 ms of page faults per
 * copy on a VM (issue 15).
 */
export function listAnswers(aggregator: Aggregator, history?: HistoryRef) {
  const encode = listEncoder(aggregator, history);
  const buffer = new AnswerBuffer();
  const framed = (e: EncodedList): ListFrame => {
    const frame = Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
    frame[0] = 0;
    frame.writeUInt32BE(frame.length - HEADER_BYTES, 1);
    return { frame, resolutionSec: e.resolutionSec };
  };
  return {
    /** The answer to `req` (the history's arrives later). */
    answer(req: FlowListRequest, auth: CallAuth): ListFrame | Promise<ListFrame> {
      const into = { prefixBytes: HEADER_BYTES, buffer: buffer.take() };
      try {
        const r = encode(req, auth, into);
        return r instanceof Promise ? r.then(framed) : framed(r);
      } catch (e) {
        if (into.buffer) buffer.give(into.buffer);
        throw e;
      }
    },
    /** The frame was written or dropped: nothing reads it any more, its memory may be reused. */
    done(a: ListFrame): void {
      buffer.give(new Uint8Array(a.frame.buffer));
    },
  };
}

/**
 * The List lane (DESIGN §5): `goldmane.Flows/List` over gRPC (HTTP/2, binary protobuf, what
 * whisker-backend's Go client speaks) answered on the HTTP/2 stream with the encoder's own buffer
 * as the one response frame. Request reading, authorisation, statuses, grpc-timeout and shutdown
 * as in the stream lane; the answer is the Connect method's, byte for byte (shared
 * {@link listEncoder}), including the history and the `tributary-resolution` header. gRPC-web,
 * Connect and JSON stay on Connect.
 *
 * Returns a stream hook for {@link createRpcListener}: true when it took the stream.
 */
export function createListFastLane(deps: ListFastLaneDeps) {
  const { log } = deps;
  const answers = listAnswers(deps.aggregator, deps.history);

  return (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean => {
    if (!isGrpcCallTo(headers, LIST_PATH)) return false;
    serve(stream, headers);
    return true;
  };

  function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const call = acceptCall(stream, headers, deps.authorize, log, "list");
    if (call === undefined) return;
    const { encoding, auth } = call;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const onShutdown = () => end(Code.Unavailable, "server is shutting down");
    const cleanup = () => {
      finished = true;
      if (timer) clearTimeout(timer);
      deps.shutdownSignal.removeEventListener("abort", onShutdown);
    };
    /** Ends the call with a status and no message (every error, before any answer is written). */
    function end(code: Code, message: string): void {
      if (finished) return;
      cleanup();
      if (stream.destroyed || stream.closed) return;
      respondTrailersOnly(stream, code, message);
      // E.g. a request never completed: the client may still be sending.
      cutOffAfterStatus(stream, deps.shutdownSignal.aborted);
    }
    const fail = (e: unknown) => {
      // Query errors, the history being unreachable (UNAVAILABLE): as the Connect method maps them.
      const status = statusOf(e);
      if (status) return end(status.code, status.message);
      log.error({ err: e }, "fast-lane list failed");
      end(Code.Internal, "internal error");
    };
    function answer(a: ListFrame): void {
      const gone = finished || stream.destroyed || stream.closed;
      cleanup();
      if (gone) return answers.done(a);
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "gzip,identity", [RESOLUTION_HEADER]: String(a.resolutionSec) },
        { waitForTrailers: true },
      );
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": String(GRPC_OK) }));
      // The frame's memory is reused once its write completed (the callback comes after the socket
      // write that sent the last byte); a failed write keeps it from reuse, as HTTP/2 may still
      // hold it.
      stream.write(a.frame, (err) => {
        if (!err) answers.done(a);
      });
      stream.end();
    }

    if (deps.shutdownSignal.aborted) return onShutdown();
    deps.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
    // Client cancel (RST_STREAM) or the connection went away: nothing more can be sent.
    stream.on("close", cleanup);
    stream.on("aborted", cleanup);
    stream.on("error", cleanup);
    const timeoutMs = parseGrpcTimeout(headers["grpc-timeout"]);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => end(Code.DeadlineExceeded, "deadline exceeded"), timeoutMs);
      timer.unref();
    }
    readRequestMessage(
      stream,
      { encoding, maxBytes: deps.maxMessageBytes, kind: "unary", ended: () => finished },
      (payload) => {
        try {
          const r = answers.answer(decodeRequest(FlowListRequestSchema, payload), auth);
          if (r instanceof Promise) r.then(answer, fail);
          else answer(r);
        } catch (e) {
          fail(e);
        }
      },
      fail,
    );
  }
}
