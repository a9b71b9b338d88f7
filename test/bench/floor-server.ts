/**
 * The floor of Felix-shaped ingest (issue 14 item 7): a bare node:http2 server that only frames
 * gRPC messages and writes one empty receipt per message — no decoding, no storage. Run as its
 * own process; prints {"port": N} once listening.
 *
 * `--defer-ms N`: the receipts of every stream are collected and written together N ms later, in
 * one timer callback, as an ingest replica writes them when the log acknowledges a batch — the
 * cost of writing receipts outside the read that brought the update, with nothing else added.
 */
import * as http2 from "node:http2";

const deferAt = process.argv.indexOf("--defer-ms");
const deferMs = deferAt >= 0 ? Number(process.argv[deferAt + 1]) : -1;
const deferred: [http2.ServerHttp2Stream, number][] = [];
let flushTimer: NodeJS.Timeout | null = null;
const flush = () => {
  flushTimer = null;
  for (const [stream, n] of deferred.splice(0)) if (!stream.destroyed) stream.write(Buffer.alloc(5 * n));
};

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
    if (n === 0) return;
    if (deferMs < 0) stream.write(Buffer.alloc(5 * n));
    else {
      deferred.push([stream, n]);
      flushTimer ??= setTimeout(flush, deferMs);
    }
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
