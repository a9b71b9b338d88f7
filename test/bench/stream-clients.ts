/**
 * Flows.Stream consumers for the stream benchmark, run in their own process
 * (`tsx test/bench/stream-clients.ts '<json args>'`): N gRPC subscriptions on raw HTTP/2 streams
 * (one session), each reading as fast as it can and counting messages by their frame headers
 * without decoding them — the consumers must cost the shared 2-core machine as little as
 * possible, so the figure is the server's cost, not the clients'. Prints "ready" once every call
 * has its response headers, and on SIGTERM one JSON line with the results received.
 */
import { toBinary } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { FlowStreamRequestSchema } from "../../src/gen/goldmane/api_pb.js";

interface Args {
  port: number;
  streams: number;
  /** Per stream, a dest-namespace filter (team-0 … team-19 round robin), or none. */
  filtered: boolean;
}

const args = JSON.parse(process.argv[2]!) as Args;
const session = http2.connect(`http://127.0.0.1:${args.port}`);
session.on("error", () => undefined);
let received = 0;
let errors = 0;
let open = 0;

function frame(payload: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, 5);
  return b;
}

const calls: http2.ClientHttp2Stream[] = [];
for (let i = 0; i < args.streams; i++) {
  const req = create(FlowStreamRequestSchema, args.filtered ? { filter: { destNamespaces: [{ value: `team-${i % 20}` }] } } : {});
  const call = session.request({ ":method": "POST", ":path": "/goldmane.Flows/Stream", "content-type": "application/grpc", te: "trailers" });
  calls.push(call);
  let pending = Buffer.alloc(0);
  call.on("response", () => {
    if (++open === args.streams) process.stdout.write("ready\n");
  });
  call.on("data", (chunk: Buffer) => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let pos = 0;
    while (buf.length - pos >= 5) {
      const len = buf.readUInt32BE(pos + 1);
      if (buf.length - pos - 5 < len) break;
      pos += 5 + len;
      received++;
    }
    pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    buf = pending;
  });
  call.on("trailers", (t) => {
    if (t["grpc-status"] !== "0") errors++;
  });
  call.on("error", () => undefined);
  call.end(frame(toBinary(FlowStreamRequestSchema, req)));
}

const keepAlive = setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => {
  for (const c of calls) c.close(http2.constants.NGHTTP2_CANCEL);
  session.close();
  clearInterval(keepAlive);
  process.stdout.write(JSON.stringify({ received, errors, open }) + "\n");
  process.exit(0);
});
