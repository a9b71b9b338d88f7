import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { READ_AHEAD, readLogInThread } from "../../src/cluster/log-reader-thread.js";
import { openNatsLog, type LogMessage, type NatsLog, type NatsLogConfig } from "../../src/cluster/nats-log.js";
import { silentLogger } from "../../src/observability/logger.js";
import { freePort, startNatsServer, type NatsServer } from "../helpers/nats-server.js";

// The replica reads the log on a thread of its own (cluster/log-reader-thread.ts): what it hands
// over, in what order, how far it reads ahead of the replica, and how it ends.

const config = (natsUrl: string, clusterStream: string): NatsLogConfig => ({
  natsUrl,
  natsCredsPath: "",
  natsCaPath: "",
  natsCertPath: "",
  natsKeyPath: "",
  clusterStream,
  clusterStreamReplicas: 1,
  clusterRole: "all",
  clusterAppendTimeoutMs: 5000,
  windowSec: 15,
  historyBuckets: 240,
  replayHorizonSec: 330,
});

/** An entry whose bytes say which one it is: `i` in its first 4 bytes, then `size - 4` bytes of `i & 255`. */
const entry = (i: number, size = 64) => {
  const b = Buffer.alloc(size, i & 255);
  b.writeUInt32LE(i, 0);
  return b;
};

describe("cluster log reader thread", () => {
  let nats: NatsServer;
  let log: NatsLog;
  beforeAll(async () => {
    nats = await startNatsServer("reader");
    log = await openNatsLog(config(nats.url, "reader"), silentLogger());
    const acks: Promise<number>[] = [];
    // 300 entries of 1–20 KiB: larger than a socket read, so payloads span the client's buffers.
    for (let i = 1; i <= 300; i++) acks.push(log.publish(entry(i, 1024 * (1 + (i % 20)))));
    await Promise.all(acks);
  }, 30_000);
  afterAll(async () => {
    await log?.close();
    await nats?.stop();
  });

  it("hands over every message from the given sequence on, in order, with its bytes and what is pending after it", async () => {
    const it = await log.read(101);
    const got: LogMessage[] = [];
    for await (const m of it) {
      got.push(m);
      if (m.seq === 300) break;
    }
    await it.close();
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 200 }, (_, k) => 101 + k));
    for (const m of got) {
      expect(Buffer.from(m.data).equals(entry(m.seq, 1024 * (1 + (m.seq % 20))))).toBe(true);
      expect(m.pending).toBe(300 - m.seq);
    }
  });

  it("reads no further ahead of a replica that does not take its messages than the read-ahead and one pull", async () => {
    const it = await log.read(1);
    const iter = it[Symbol.asyncIterator]();
    expect((await iter.next()).value?.seq).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      // The newest consumer is this reader's (the first test's may not have expired yet).
      const consumers = (await jsm.consumers.list("reader").next()).sort((a, b) => Date.parse(a.created) - Date.parse(b.created));
      const delivered = consumers.at(-1)!.delivered.stream_seq;
      // One taken, READ_AHEAD waiting on the main thread, one pull (48) in the client.
      expect(delivered).toBeGreaterThan(READ_AHEAD);
      expect(delivered).toBeLessThanOrEqual(1 + READ_AHEAD + 48);
    } finally {
      await nc.close();
      await it.close();
    }
  });

  it("ends the iteration with the server's error when the stream does not exist", async () => {
    const other = await openNatsLog(config(nats.url, "other"), silentLogger());
    const nc = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(nc)).streams.delete("other");
      const it = await other.read(1);
      await expect((async () => {
        for await (const m of it) void m;
      })()).rejects.toThrow(/stream not found/i);
      await it.close();
    } finally {
      await nc.close();
      await other.close();
    }
  });

  it("closes at once while its thread still waits for an unreachable NATS", async () => {
    const nowhere = `nats://127.0.0.1:${await freePort()}`;
    const waiting = await readLogInThread(config(nowhere, "reader"), 1);
    let ended = false;
    const reading = (async () => {
      for await (const m of waiting) void m;
      ended = true;
    })();
    await new Promise((r) => setTimeout(r, 1000));
    expect(ended).toBe(false);
    const t0 = performance.now();
    await waiting.close();
    await reading;
    expect(ended).toBe(true);
    // The thread ends by itself (it is not connected: nothing to close); one that did not would
    // be terminated after 5 s.
    expect(performance.now() - t0).toBeLessThan(4000);
  });
});
