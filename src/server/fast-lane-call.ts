import * as http2 from "node:http2";
import * as zlib from "node:zlib";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ANONYMOUS, AuthError, type CallAuth } from "../auth/index.js";
import type { Logger } from "../observability/logger.js";
import { HEADER_BYTES, refuseEncoding, respondTrailersOnly } from "./grpc-frames.js";
import { fromBinaryLenient } from "./lenient-routes.js";
import { toConnectError } from "./parse-request.js";

/**
 * The parts of a fast-lane call whose input is one request message (Flows/Stream, Flows/List)
 * that both lanes share: accepting the call, reading and decoding its request, the status an
 * error ends it with, and letting go of a client that keeps the stream open after its status.
 */

/** Decides a call from its raw headers as the Connect interceptor does (Auth.authorizeHeaders). */
export type AuthorizeHeaders = (headers: http2.IncomingHttpHeaders, socket: http2.ServerHttp2Session["socket"] | undefined) => CallAuth;

/** An error that ends a fast-lane call with a gRPC status. */
export class CallError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads the one request message of a call whose input is a single message (List: unary; Stream:
 * server streaming), as Connect requires of it: exactly one message, then end of stream, within
 * `maxBytes` (MAX_MESSAGE_BYTES, checked on the announced length before it is buffered), gzip
 * when announced by grpc-encoding. `done` gets the message's payload, `fail` the reason; after
 * either, or once `ended()` is true, further input is read and discarded.
 */
export function readRequestMessage(
  stream: http2.ServerHttp2Stream,
  opts: { encoding: string; maxBytes: number; kind: "unary" | "server_streaming"; ended: () => boolean },
  done: (payload: Uint8Array) => void,
  fail: (e: CallError) => void,
): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let want = -1; // bytes of the first message, header included, once its header is in
  let over = false;
  const stop = (e: CallError) => {
    over = true;
    chunks.length = 0;
    fail(e);
  };
  stream.on("data", (chunk: Buffer) => {
    if (over || opts.ended()) return;
    chunks.push(chunk);
    received += chunk.length;
    if (want < 0 && received >= HEADER_BYTES) {
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const len = head.readUInt32BE(1);
      if (len > opts.maxBytes) {
        return stop(new CallError(Code.ResourceExhausted, `message size ${len} exceeds the limit of ${opts.maxBytes} bytes (MAX_MESSAGE_BYTES)`));
      }
      want = HEADER_BYTES + len;
    }
    if (want >= 0 && received >= want + HEADER_BYTES) {
      stop(new CallError(Code.Unimplemented, `protocol error: received extra input message for ${opts.kind} method`));
    }
  });
  stream.on("end", () => {
    if (over || opts.ended()) return;
    if (received === 0) return stop(new CallError(Code.Unimplemented, `protocol error: missing input message for ${opts.kind} method`));
    if (received !== want) return stop(new CallError(Code.Internal, "stream ended inside a message"));
    const buf = Buffer.concat(chunks, received);
    let payload: Uint8Array = buf.subarray(HEADER_BYTES);
    if (buf[0]! & 1) {
      if (opts.encoding === "identity") return stop(new CallError(Code.Internal, "compressed message without grpc-encoding"));
      try {
        payload = zlib.gunzipSync(payload, { maxOutputLength: opts.maxBytes });
      } catch (e) {
        const tooBig = (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
        return stop(
          new CallError(
            tooBig ? Code.ResourceExhausted : Code.Internal,
            tooBig ? `decompressed message exceeds the limit of ${opts.maxBytes} bytes (MAX_MESSAGE_BYTES)` : "invalid gzip message",
          ),
        );
      }
    }
    over = true;
    chunks.length = 0;
    done(payload);
  });
}

/**
 * Starts a call: a grpc-encoding the lanes speak, and the caller authorised (absent = anonymous).
 * Undefined when the call was refused; its status has been sent.
 */
export function acceptCall(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  authorize: AuthorizeHeaders | undefined,
  log: Logger,
  what: string,
): { encoding: string; auth: CallAuth } | undefined {
  const encoding = (headers["grpc-encoding"] as string | undefined) ?? "identity";
  if (encoding !== "identity" && encoding !== "gzip") {
    refuseEncoding(stream, encoding);
    return undefined;
  }
  try {
    return { encoding, auth: authorize ? authorize(headers, stream.session?.socket) : ANONYMOUS };
  } catch (e) {
    if (e instanceof AuthError) {
      respondTrailersOnly(stream, e.code, e.message);
    } else {
      log.error({ err: e }, `fast-lane ${what} authorisation failed`);
      respondTrailersOnly(stream, Code.Internal, "internal error");
    }
    return undefined;
  }
}

/**
 * The request message, with both PolicyMatch encodings (v3.32 StringMatch, v3.30/v3.31 strings)
 * as on the Connect path. Throws a ConnectError or a {@link CallError} (INVALID_ARGUMENT).
 */
export function decodeRequest<Desc extends DescMessage>(schema: Desc, payload: Uint8Array): MessageShape<Desc> {
  try {
    return fromBinaryLenient(schema, payload);
  } catch (e) {
    throw e instanceof ConnectError ? e : new CallError(Code.InvalidArgument, `cannot decode ${schema.typeName}: ${(e as Error).message}`);
  }
}

/**
 * The status a call ends with for an error, mapped as the Connect methods map it (query errors,
 * an unreachable history); undefined for an unexpected error (INTERNAL, logged by the caller).
 */
export function statusOf(e: unknown): { code: Code; message: string } | undefined {
  const c = toConnectError(e);
  if (c instanceof ConnectError) return { code: c.code, message: c.rawMessage };
  if (c instanceof CallError || c instanceof AuthError) return { code: c.code, message: c.message };
  return undefined;
}

/**
 * After the status was sent: a client that neither half-closes nor reads what is still buffered
 * cannot hold the stream; it is reset after a grace period (short while shutting down).
 */
export function cutOffAfterStatus(stream: http2.ServerHttp2Stream, shuttingDown: boolean): void {
  const cutoff = setTimeout(
    () => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    },
    shuttingDown ? 100 : 5000,
  );
  cutoff.unref();
  stream.once("close", () => clearTimeout(cutoff));
}
