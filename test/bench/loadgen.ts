/**
 * Ingest load generator, run in its own process (`tsx test/bench/loadgen.ts '<json args>'`), so
 * the server under test has its core to itself. It pre-encodes gRPC frames for every key and
 * only patches the end_time varint per message (each emission unique, so dedup never drops one),
 * keeps many updates in flight on N streams from distinct 127.0.0.x addresses, and counts
 * receipts. Prints one JSON line with the result.
 */
import * as http2 from "node:http2";
import { encodeUpdate, patchableUpdate, workloadKeys } from "./workload.js";

interface Args {
  port: number;
  streams: number;
  keys: number;
  seconds: number;
  inFlight: number;
  startSec: number;
  windowSec: number;
  /** Start times follow the clock (the filling bucket), so rollovers have data to stream. */
  live?: boolean;
}

const args = JSON.parse(process.argv[2]!) as Args;
const END_BASE = 1_800_000_000; // a 5-byte varint like every value up to 2^35
const keys = workloadKeys(args.keys, 7);

interface Template {
  frame: Buffer;
  endOffset: number;
  /** Offset of the start_time varint (live mode), else -1. */
  startOffset: number;
}

/** Frames with a sentinel end_time whose 5 varint bytes are patched per message. */
const templates: Template[] = keys.map((k, i) => {
  if (args.live) {
    const u = patchableUpdate(k);
    const frame = Buffer.alloc(5 + u.bytes.length);
    frame.writeUInt32BE(u.bytes.length, 1);
    frame.set(u.bytes, 5);
    return { frame, endOffset: 5 + u.endOffset, startOffset: 5 + u.startOffset };
  }
  const start = args.startSec - (i % 4) * args.windowSec;
  const msg = encodeUpdate(k, start, END_BASE);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  frame.set(msg, 5);
  const sentinel = Buffer.alloc(5);
  patchEnd(sentinel, 0, END_BASE);
  const at = frame.indexOf(sentinel, 5);
  if (at < 0) throw new Error("sentinel not found");
  return { frame, endOffset: at, startOffset: -1 };
});

function patchEnd(buf: Buffer, off: number, v: number): void {
  for (let i = 0; i < 4; i++) {
    buf[off + i] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[off + 4] = v & 0x7f;
}

async function runStream(idx: number, deadline: number): Promise<{ sent: number; receipts: number }> {
  const session = http2.connect(`http://127.0.0.1:${args.port}`, { localAddress: `127.0.0.${2 + idx}` } as http2.ClientSessionOptions);
  const req = session.request({ ":method": "POST", ":path": "/goldmane.FlowCollector/Connect", "content-type": "application/grpc", te: "trailers" });
  let sent = 0;
  let receipts = 0;
  let pendingBytes = 0;
  let seq = idx * 1_000_000_000;
  const batch = 64;
  let wake: (() => void) | null = null;
  req.on("data", (d: Buffer) => {
    pendingBytes += d.length;
    // Receipts are empty messages: 5 bytes each.
    const n = Math.floor(pendingBytes / 5);
    pendingBytes -= n * 5;
    receipts += n;
    if (wake && sent - receipts < args.inFlight) {
      const w = wake;
      wake = null;
      w();
    }
  });
  const ended = new Promise<void>((resolve) => req.on("close", () => resolve()));
  while (Date.now() < deadline) {
    if (sent - receipts >= args.inFlight) {
      await new Promise<void>((r) => (wake = r));
      continue;
    }
    const parts: Buffer[] = [];
    const nowSec = Math.floor(Date.now() / 1000);
    for (let i = 0; i < batch; i++, seq++) {
      const t = templates[seq % templates.length]!;
      // Patched in place: Buffer.concat below copies it before the next patch.
      patchEnd(t.frame, t.endOffset, END_BASE + Math.floor(seq / templates.length) + 1);
      if (t.startOffset >= 0) patchEnd(t.frame, t.startOffset, nowSec);
      parts.push(t.frame);
    }
    sent += batch;
    if (!req.write(Buffer.concat(parts))) await new Promise<void>((r) => req.once("drain", () => r()));
  }
  // Wait for the outstanding receipts, then end.
  while (receipts < sent) await new Promise<void>((r) => (wake = r));
  req.end();
  await ended;
  session.close();
  return { sent, receipts };
}

const t0 = Date.now();
const deadline = t0 + args.seconds * 1000;
const results = await Promise.all(Array.from({ length: args.streams }, (_, i) => runStream(i, deadline)));
const elapsed = (Date.now() - t0) / 1000;
const receipts = results.reduce((a, r) => a + r.receipts, 0);
process.stdout.write(JSON.stringify({ receipts, sent: results.reduce((a, r) => a + r.sent, 0), elapsed }) + "\n");
