import * as http2 from "node:http2";
import * as zlib from "node:zlib";
import { Code } from "@connectrpc/connect";
import { AuthError } from "../auth/index.js";
import { SinkError, type IngestSink, type SinkCommit } from "../aggregator/ingest-sink.js";
import { DecodeError } from "../model/flow-update-decoder.js";
import type { Logger } from "../observability/logger.js";
import type { CollectorDeps } from "./collector-service.js";
import { encodeGrpcMessage, GRPC_OK, HEADER_BYTES, isGrpcCallTo, parseGrpcTimeout, refuseEncoding, respondTrailersOnly } from "./grpc-frames.js";
import { normalizeIp } from "./peer.js";

export { parseGrpcTimeout } from "./grpc-frames.js";

/** The one method the fast lane serves. */
export const CONNECT_PATH = "/goldmane.FlowCollector/Connect";

export interface FastLaneDeps extends Omit<CollectorDeps, "nodeOf"> {
  log: Logger;
  maxMessageBytes: number;
  /** Aborted when the server shuts down: open streams end with UNAVAILABLE. */
  shutdownSignal: AbortSignal;
  /**
   * The reporting node of a stream (authenticated identity, else the peer IP). May throw a
   * {@link FastLaneError} or an {@link AuthError} (issue 8: the session token in the raw
   * headers) to refuse the call.
   */
  nodeOf?: (headers: http2.IncomingHttpHeaders, peerIp: string) => string;
  /**
   * Cluster mode (DESIGN §9): updates go to this sink instead of the local aggregator, and the
   * receipts of a chunk are written once the sink's promises for it resolved. Without a sink
   * (the embedded mode) updates are stored synchronously and receipted at once.
   */
  sink?: IngestSink;
}

/** An error that ends a fast-lane call with a gRPC status. */
export class FastLaneError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
  }
}

const RECEIPT_FRAME = Buffer.alloc(HEADER_BYTES); // an empty message: flag 0, length 0
const RECEIPTS = Buffer.alloc(HEADER_BYTES * 4096);

/**
 * The ingest fast lane (DESIGN §5): `FlowCollector/Connect` over gRPC (HTTP/2, binary protobuf)
 * served directly on the HTTP/2 stream — gRPC framing, {@link decodeFlowUpdate}, and receipts
 * written in one batch per chunk of input — instead of Connect's generic per-message machinery.
 * Every other method, and Connect/gRPC-web/JSON ingest, stays on Connect; both paths run the same
 * conformance tests. It honours gRPC's rules: message size limit (RESOURCE_EXHAUSTED), the
 * compressed flag with grpc-encoding gzip/identity, grpc-timeout, trailers, and cancellation.
 *
 * Returns a stream hook for {@link createRpcListener}: true when it took the stream.
 */
export function createIngestFastLane(deps: FastLaneDeps) {
  const { aggregator, metrics, log } = deps;
  /**
   * Open calls, ended together at shutdown: one listener on the signal, not one per call. Adding
   * a listener to an AbortSignal walks its list, so thousands of agents connecting took
   * quadratic time (20 000 listeners: ~0.6 s of the event loop).
   */
  const open = new Set<() => void>();
  deps.shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const onShutdown of [...open]) onShutdown();
    },
    { once: true },
  );

  return (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean => {
    if (!isGrpcCallTo(headers, CONNECT_PATH)) return false;
    serve(stream, headers);
    return true;
  };

  function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const encoding = (headers["grpc-encoding"] as string | undefined) ?? "identity";
    let headersSent = false;
    let finished = false;
    let pending: Buffer | null = null;
    let node = "";
    let timer: NodeJS.Timeout | undefined;
    let counted = false;

    const cleanup = () => {
      if (timer) clearTimeout(timer);
      open.delete(onShutdown);
      if (counted) metrics.collectorClients.dec();
      counted = false;
    };

    const finish = (code: Code | typeof GRPC_OK, message = "") => {
      if (finished) return;
      finished = true;
      const trailers: http2.OutgoingHttpHeaders = { "grpc-status": String(code) };
      if (message) trailers["grpc-message"] = encodeGrpcMessage(message);
      if (stream.destroyed || stream.closed) {
        cleanup();
        return;
      }
      if (!headersSent) {
        // Trailers-only response.
        headersSent = true;
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      } else {
        stream.once("wantTrailers", () => stream.sendTrailers(trailers));
        stream.end();
      }
      if (!stream.readableEnded) {
        // A well-behaved client stops sending once it has our status; one that does not is cut
        // off after a grace period so a half-open stream cannot hold resources.
        const cutoff = setTimeout(
          () => {
            if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
          },
          deps.shutdownSignal.aborted ? 100 : 5000,
        );
        cutoff.unref();
        stream.once("close", () => clearTimeout(cutoff));
      }
      cleanup();
    };

    function onShutdown() {
      finish(Code.Unavailable, "server is shutting down");
    }

    if (encoding !== "identity" && encoding !== "gzip") {
      refuseEncoding(stream, encoding);
      return;
    }
    try {
      const peer = normalizeIp(stream.session?.socket?.remoteAddress);
      node = deps.nodeOf ? deps.nodeOf(headers, peer) : peer;
    } catch (e) {
      if (e instanceof FastLaneError || e instanceof AuthError) {
        finished = true;
        respondTrailersOnly(stream, e.code, e.message);
        return;
      }
      throw e;
    }

    const received = metrics.receivedFrom(node);
    metrics.collectorClients.inc();
    counted = true;
    if (deps.shutdownSignal.aborted) {
      onShutdown();
      return;
    }
    open.add(onShutdown);
    const timeoutMs = parseGrpcTimeout(headers["grpc-timeout"]);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => finish(Code.DeadlineExceeded, "deadline exceeded"), timeoutMs);
      timer.unref();
    }

    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "gzip,identity" },
      { waitForTrailers: true },
    );
    headersSent = true;

    const sink = deps.sink;
    /** The sink's commits for the chunk being read (usually one batch); cluster mode only. */
    let commits: SinkCommit[] = [];
    /** True while a chunk's receipts wait for the log; input that arrives meanwhile is held. */
    let waiting = false;
    /** True while the client is not reading its receipts: its input waits for 'drain'. */
    let draining = false;
    /** Runs once the receipts being waited for are out (the status follows the last receipts). */
    let afterWait: (() => void) | null = null;

    const ingest = (bytes: Uint8Array, start: number, end: number) => {
      if (sink) {
        const c = sink.encoded(bytes, start, end, node);
        if (commits.length === 0 || commits[commits.length - 1] !== c) commits.push(c);
      } else aggregator.ingestEncoded(bytes, start, end, node);
    };

    /** Ends the call for an error thrown while reading a chunk. */
    const fail = (e: unknown) => {
      if (e instanceof FastLaneError) finish(e.code, e.message);
      else if (e instanceof DecodeError) finish(Code.InvalidArgument, `cannot decode goldmane.FlowUpdate: ${e.message}`);
      else if (e instanceof SinkError) finish(e.reason === "too_large" ? Code.ResourceExhausted : Code.Unavailable, e.message);
      else {
        log.error({ err: e }, "fast-lane ingest failed");
        finish(Code.Internal, "internal error");
      }
    };

    const resumeReading = () => {
      if (!waiting && !draining && !finished && stream.isPaused()) stream.resume();
    };

    /**
     * Receipts for `n` updates (then the error that stopped the chunk, if any). In cluster mode
     * they wait until the log acknowledged every update of the chunk, and input that arrives
     * meanwhile is held. A lock-step agent (Felix) sends nothing while it waits, so its stream is
     * never paused: pausing and resuming every stream for every batch cost CPU per flow.
     */
    const release = (n: number, error: unknown) => {
      if (commits.length === 0) {
        received.n += n;
        writeReceipts(n);
        if (error !== undefined) fail(error);
        return;
      }
      const batches = commits;
      commits = [];
      waiting = true;
      let left = batches.length;
      let failed = false;
      const settled = (err: SinkError | undefined) => {
        if (failed) return;
        if (err) failed = true;
        else if (--left > 0) return;
        waiting = false;
        if (err) fail(err);
        else {
          received.n += n;
          writeReceipts(n);
          if (error !== undefined) fail(error);
          else resumeReading();
        }
        const after = afterWait;
        afterWait = null;
        after?.();
      };
      for (const b of batches) b.whenSettled(settled);
    };

    stream.on("data", (chunk: Buffer) => {
      // After the status was sent, the rest of the input is read and discarded.
      if (finished) return;
      if (waiting) {
        // A client that sends before its receipts came (pipelining): hold its input until then.
        stream.pause();
        stream.unshift(chunk);
        return;
      }
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      let pos = 0;
      let receipts = 0;
      try {
        while (buf.length - pos >= HEADER_BYTES) {
          const flag = buf[pos]!;
          const len = buf.readUInt32BE(pos + 1);
          if (len > deps.maxMessageBytes) {
            throw new FastLaneError(Code.ResourceExhausted, `message size ${len} exceeds the limit of ${deps.maxMessageBytes} bytes (MAX_MESSAGE_BYTES)`);
          }
          if (buf.length - pos - HEADER_BYTES < len) break;
          const start = pos + HEADER_BYTES;
          pos = start + len;
          if (flag & 1) {
            if (encoding === "identity") throw new FastLaneError(Code.Internal, "compressed message without grpc-encoding");
            let inflated: Buffer;
            try {
              inflated = zlib.gunzipSync(buf.subarray(start, start + len), { maxOutputLength: deps.maxMessageBytes });
            } catch (e) {
              const tooBig = (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
              throw new FastLaneError(
                tooBig ? Code.ResourceExhausted : Code.Internal,
                tooBig ? `decompressed message exceeds the limit of ${deps.maxMessageBytes} bytes (MAX_MESSAGE_BYTES)` : "invalid gzip message",
              );
            }
            ingest(inflated, 0, inflated.length);
          } else {
            ingest(buf, start, start + len);
          }
          receipts++;
        }
      } catch (e) {
        release(receipts, e);
        return;
      }
      if (pos < buf.length) pending = Buffer.from(buf.subarray(pos));
      release(receipts, undefined);
    });

    function writeReceipts(n: number): void {
      if (n === 0 || finished || stream.destroyed) return;
      let ok = true;
      while (n > 0) {
        const k = Math.min(n, RECEIPTS.length / HEADER_BYTES);
        ok = stream.write(k === 1 ? RECEIPT_FRAME : RECEIPTS.subarray(0, k * HEADER_BYTES));
        n -= k;
      }
      if (!ok) {
        // The client is not reading its receipts: stop reading its updates until it does.
        draining = true;
        stream.pause();
        stream.once("drain", () => {
          draining = false;
          resumeReading();
        });
      }
    }

    stream.on("end", () => {
      const end = () => {
        if (pending && pending.length > 0) finish(Code.Internal, "stream ended inside a message");
        else finish(GRPC_OK);
      };
      // The last receipts may still wait for the log: the status follows them.
      if (waiting) afterWait = end;
      else end();
    });
    stream.on("close", cleanup);
    stream.on("error", () => cleanup());
  }
}
