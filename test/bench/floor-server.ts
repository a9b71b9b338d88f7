/**
 * The floor of Felix-shaped ingest (issue 14 item 7): a bare node:http2 server that only frames
 * gRPC messages and writes one empty receipt per message — no decoding, no storage. Run as its
 * own process; prints {"port": N} once listening.
 */
import * as http2 from "node:http2";

const server = http2.createServer();
server.on("stream", (stream) => {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  let pending: Buffer | null = null;
  stream.on("data", (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let pos = 0;
    let n = 0;
    while (buf.length - pos >= 5) {
      const len = buf.readUInt32BE(pos + 1);
      if (buf.length - pos - 5 < len) break;
      pos += 5 + len;
      n++;
    }
    if (pos < buf.length) pending = Buffer.from(buf.subarray(pos));
    if (n > 0) stream.write(Buffer.alloc(5 * n));
  });
  stream.on("end", () => {
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end();
  });
  stream.on("error", () => undefined);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ msg: "floor listening", port: (server.address() as { port: number }).port }) + "\n");
});
process.on("SIGTERM", () => process.exit(0));
