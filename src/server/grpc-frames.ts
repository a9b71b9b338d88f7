import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";

/**
 * gRPC-over-HTTP/2 pieces shared by the fast lanes (ingest, Stream and List):
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

/** True for a gRPC call (POST, binary protobuf) to `path`: what a fast lane takes. */
export function isGrpcCallTo(headers: http2.IncomingHttpHeaders, path: string): boolean {
  return headers[":path"] === path && headers[":method"] === "POST" && isGrpcProto(headers["content-type"]);
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
