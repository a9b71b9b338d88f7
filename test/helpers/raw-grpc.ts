import * as http2 from "node:http2";
import * as zlib from "node:zlib";

/** One gRPC message frame: flag byte, big-endian length, payload. */
export function grpcFrame(payload: Uint8Array, compressed = false): Buffer {
  const body = compressed ? zlib.gzipSync(payload) : Buffer.from(payload);
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** What a raw gRPC call returned. */
export interface RawGrpcResult {
  status: number | undefined;
  message: string;
  /** Number of response messages (receipts). */
  messages: number;
  headers: http2.IncomingHttpHeaders;
}

/**
 * Calls `/goldmane.FlowCollector/Connect` with hand-made frames over a raw HTTP/2 client, so tests
 * control framing, compression flags and headers exactly. `chunks` are written in order.
 */
export function rawConnect(
  port: number,
  chunks: Buffer[],
  headers: http2.OutgoingHttpHeaders = {},
  opts: { localAddress?: string; endStream?: boolean; abortAfterMs?: number } = {},
): Promise<RawGrpcResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, opts.localAddress ? ({ localAddress: opts.localAddress } as http2.ClientSessionOptions) : {});
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": "/goldmane.FlowCollector/Connect",
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let respHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let data = Buffer.alloc(0);
    req.on("response", (h) => (respHeaders = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (d: Buffer) => (data = Buffer.concat([data, d])));
    const done = () => {
      let messages = 0;
      for (let pos = 0; pos + 5 <= data.length; pos += 5 + data.readUInt32BE(pos + 1)) messages++;
      const all = { ...respHeaders, ...trailers };
      session.close();
      resolve({
        status: all["grpc-status"] === undefined ? undefined : Number(all["grpc-status"]),
        message: decodeURIComponent(String(all["grpc-message"] ?? "")),
        messages,
        headers: all,
      });
    };
    req.on("close", done);
    req.on("error", () => undefined);
    for (const c of chunks) req.write(c);
    if (opts.abortAfterMs !== undefined) setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), opts.abortAfterMs);
    else if (opts.endStream !== false) req.end();
  });
}

/** What a raw unary or server-streaming gRPC call returned, with the response payloads. */
export interface RawGrpcCall extends RawGrpcResult {
  payloads: Buffer[];
}

/**
 * Calls any gRPC method with one hand-made request payload over a raw HTTP/2 client (no protobuf
 * library between the test and the wire). `cancelAfterMs` cancels a call that would not end
 * (a stream), returning what arrived by then.
 */
export function rawGrpcCall(port: number, path: string, payload: Uint8Array, opts: { cancelAfterMs?: number } = {}): Promise<RawGrpcCall> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    let all: http2.IncomingHttpHeaders = {};
    let data = Buffer.alloc(0);
    req.on("response", (h) => (all = { ...all, ...h }));
    req.on("trailers", (t) => (all = { ...all, ...t }));
    req.on("data", (d: Buffer) => (data = Buffer.concat([data, d])));
    req.on("close", () => {
      const payloads: Buffer[] = [];
      for (let pos = 0; pos + 5 <= data.length; pos += 5 + data.readUInt32BE(pos + 1)) payloads.push(data.subarray(pos + 5, pos + 5 + data.readUInt32BE(pos + 1)));
      session.close();
      resolve({
        status: all["grpc-status"] === undefined ? undefined : Number(all["grpc-status"]),
        message: decodeURIComponent(String(all["grpc-message"] ?? "")),
        messages: payloads.length,
        payloads,
        headers: all,
      });
    });
    req.on("error", () => undefined);
    req.end(grpcFrame(payload));
    if (opts.cancelAfterMs !== undefined) setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), opts.cancelAfterMs);
  });
}
