import type * as http2 from "node:http2";
import * as zlib from "node:zlib";
import { Code } from "@connectrpc/connect";

/**
 * gRPC-over-HTTP/2 pieces shared by the fast lanes (ingest-fast-lane.ts, stream-fast-lane.ts):
 * framing, grpc-message encoding, grpc-timeout and trailers-only responses (gRPC spec
 * PROTOCOL-HTTP2).
 */

/** gRPC status OK (Connect's Code enum starts at Canceled = 1). */
export const GRPC_OK = 0;
/** Length-prefixed message header: compressed flag (1 byte) and big-endian length (4 bytes). */
export const HEADER_BYTES = 5;

/** True for the content types the fast lanes serve: gRPC with binary protobuf. */
export function isGrpcProto(ct: string | undefined): boolean {
  return ct === "application/grpc" || ct === "application/grpc+proto";
}

/** gRPC percent-encoding of grpc-message (spec: PROTOCOL-HTTP2 "Status-Message"). */
export function encodeGrpcMessage(msg: string): string {
  return encodeURIComponent(msg).replace(/%20/g, " ");
}

/** Parses a grpc-timeout header ("10S", "500m", …) into milliseconds; undefined if absent/bad. */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  return n * unit[m[2]!]!;
}

/** One uncompressed gRPC message frame (flag 0, length, payload) in a fresh buffer. */
export function grpcFrame(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  b[0] = 0;
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, HEADER_BYTES);
  return b;
}

/** Ends a call before any response headers with a trailers-only response carrying its status. */
export function respondTrailersOnly(stream: http2.ServerHttp2Stream, code: Code | typeof GRPC_OK, message = "", extra: http2.OutgoingHttpHeaders = {}): void {
  const h: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc", "grpc-status": String(code) };
  if (message) h["grpc-message"] = encodeGrpcMessage(message);
  stream.respond({ ...h, ...extra }, { endStream: true });
}

/** The UNIMPLEMENTED answer to a grpc-encoding the fast lanes do not speak. */
export function refuseEncoding(stream: http2.ServerHttp2Stream, encoding: string): void {
  respondTrailersOnly(stream, Code.Unimplemented, `unsupported grpc-encoding "${encoding}"`, { "grpc-accept-encoding": "gzip,identity" });
}

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
