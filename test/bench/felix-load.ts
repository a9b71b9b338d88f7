/**
 * Felix-shaped load (issue 14 item 7), run in its own process: `agents` lock-step agents, each
 * with its own HTTP/2 connection from its own loopback address (127.0.x.y), each sending one
 * FlowUpdate and waiting for its receipt before the next. `rate` > 0 paces the fleet to that
 * many flows/s in total (each agent waits for its next slot); 0 = as fast as receipts come.
 * Agents are spread round robin over `ports`. Every update has a unique end time, so nothing is
 * dropped as a replay. Prints {"measuring": true} when the warm-up ends and {"measuring": false}
 * when the measured window does, then one JSON line: receipts, elapsed, latency percentiles.
 */
import * as http2 from "node:http2";
import { encodeUpdate, patchVarint5, workloadKeys } from "./workload.js";

interface Args {
  ports: number[];
  agents: number;
  seconds: number;
  rate: number;
  startSec: number;
  keysPerAgent: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const END_BASE = 1_800_000_000;
const keys = workloadKeys(Math.max(1, Math.min(5000, a.agents * a.keysPerAgent)), 11);

/** One frame per key with a 5-byte end_time varint at `endOffset`. */
const templates = keys.map((k) => {
  const msg = encodeUpdate(k, a.startSec, END_BASE);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  frame.set(msg, 5);
  const sentinel = Buffer.alloc(5);
  patchVarint5(sentinel, 0, END_BASE);
  return { frame, endOffset: frame.indexOf(sentinel, 5) };
});

const latencies: number[] = [];
let receipts = 0;
let measuring = false;
let stop = false;
let seq = 0;
const intervalMs = a.rate > 0 ? (1000 * a.agents) / a.rate : 0;

function address(i: number): string {
  const n = i + 2;
  return `127.0.${(n >> 8) & 0xff}.${n & 0xff}`;
}

function agent(i: number): Promise<void> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${a.ports[i % a.ports.length]}`, { localAddress: address(i) } as http2.SecureClientSessionOptions);
    session.on("error", () => undefined);
    const req = session.request({ ":method": "POST", ":path": "/goldmane.FlowCollector/Connect", "content-type": "application/grpc", te: "trailers" });
    req.on("error", () => undefined);
    const own = templates.length <= a.agents ? [templates[i % templates.length]!] : templates.filter((_, k) => k % a.agents === i);
    let n = 0;
    let sentAt = 0;
    let next = performance.now() + Math.random() * intervalMs;
    const send = () => {
      if (stop) {
        req.end();
        session.close();
        resolve();
        return;
      }
      const t = own[n++ % own.length]!;
      // A fresh copy: the previous write may still be queued.
      const frame = Buffer.from(t.frame);
      patchVarint5(frame, t.endOffset, END_BASE + (seq++ % 30_000_000));
      sentAt = performance.now();
      req.write(frame);
    };
    let pending = 0;
    req.on("data", (d: Buffer) => {
      pending += d.length;
      while (pending >= 5) {
        pending -= 5;
        if (measuring) {
          receipts++;
          latencies.push(performance.now() - sentAt);
        }
        if (intervalMs > 0) {
          next += intervalMs;
          const wait = next - performance.now();
          if (wait > 0) setTimeout(send, wait);
          else send();
        } else send();
      }
    });
    req.on("close", () => resolve());
    setTimeout(send, Math.random() * Math.max(intervalMs, 50));
  });
}

const all = Array.from({ length: a.agents }, (_, i) => agent(i));
// Warm-up: connections open, memos filled.
await new Promise((r) => setTimeout(r, 2000));
measuring = true;
// Told to the bench, which reads the servers' own histograms over exactly this window.
process.stdout.write(JSON.stringify({ measuring: true }) + "\n");
const t0 = performance.now();
await new Promise((r) => setTimeout(r, a.seconds * 1000));
measuring = false;
process.stdout.write(JSON.stringify({ measuring: false }) + "\n");
const elapsed = (performance.now() - t0) / 1000;
stop = true;
await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, 3000))]);
latencies.sort((x, y) => x - y);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
process.stdout.write(JSON.stringify({ receipts, elapsed, p50: pct(50), p99: pct(99) }) + "\n");
process.exit(0);
