/**
 * Run as its own process by cluster-live-tail.test.ts: publishes entries of 4–6 KiB to the log
 * for `seconds` while a second connection tails it with the replica's reader, then prints one
 * JSON line: how many were sent and read, the worst delivery lag, and how long after the last
 * publication the tail had everything.
 */
import { openNatsLog } from "../../src/cluster/nats-log.js";
import { silentLogger } from "../../src/observability/logger.js";

const [url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 8);
const cfg = {
  natsUrl: url!,
  natsCredsPath: "",
  natsCaPath: "",
  natsCertPath: "",
  natsKeyPath: "",
  clusterStream: "tail",
  clusterStreamReplicas: 1,
  clusterRole: "all" as const,
  clusterAppendTimeoutMs: 10_000,
  windowSec: 15,
  historyBuckets: 240,
  replayHorizonSec: 330,
};
const pub = await openNatsLog(cfg, silentLogger());
const sub = await openNatsLog(cfg, silentLogger());
let sent = await pub.publish(new Uint8Array(100));
const it = await sub.read(1);
let read = 0;
let lastSeq = 0;
let maxLagMs = 0;
const reading = (async () => {
  for await (const m of it) {
    const at = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).readDoubleLE(0);
    if (at > 0) maxLagMs = Math.max(maxLagMs, Date.now() - at);
    read++;
    lastSeq = m.seq;
  }
})();
const t0 = Date.now();
while (Date.now() - t0 < seconds * 1000) {
  const acks: Promise<number>[] = [];
  for (let i = 0; i < 20; i++) {
    const b = Buffer.alloc(4000 + Math.floor(Math.random() * 2000));
    b.writeDoubleLE(Date.now(), 0);
    acks.push(pub.publish(b));
  }
  sent = Math.max(sent, ...(await Promise.all(acks)));
  await new Promise((r) => setTimeout(r, 5));
}
const end = Date.now();
while (lastSeq < sent && Date.now() - end < 45_000) await new Promise((r) => setTimeout(r, 20));
const caughtUpMs = Date.now() - end;
await it.close();
await reading;
process.stdout.write(JSON.stringify({ sent, read, maxLagMs, caughtUpMs }) + "\n");
await pub.close();
await sub.close();
process.exit(0);
