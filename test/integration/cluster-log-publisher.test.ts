import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppendError, createLogPublisher } from "../../src/cluster/log-publisher.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

// The ingest replica's appends (cluster/log-publisher.ts): core publishes with a reply subject each,
// settled by JetStream's PubAck, against a real nats-server.

describe("cluster log publisher", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNatsServer("publisher");
    nc = await connect({ servers: nats.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "pub", subjects: ["pub.log"] });
    // Takes two messages and refuses the third: JetStream answers with an error object.
    await jsm.streams.add({ name: "full", subjects: ["full.log"], max_msgs: 2, discard: DiscardPolicy.New });
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("resolves every entry with its own stream sequence, and the stream holds exactly the bytes published", async () => {
    const p = createLogPublisher(nc, "pub.log", 5000);
    const entries = Array.from({ length: 200 }, (_, i) => Buffer.alloc(100 + i * 37, i & 255));
    const seqs = await Promise.all(entries.map((e) => p.publish(e)));
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const jsm = await jetstreamManager(nc);
    for (const i of [0, 57, 199]) {
      const m = await jsm.streams.getMessage("pub", { seq: i + 1 });
      expect(Buffer.from(m!.data).equals(entries[i]!)).toBe(true);
    }
    p.close();
  });

  it("rejects an entry the stream refuses, with JetStream's reason, and keeps the ones it took", async () => {
    const p = createLogPublisher(nc, "full.log", 5000);
    const got = await Promise.allSettled([p.publish(Buffer.from("a")), p.publish(Buffer.from("b")), p.publish(Buffer.from("c"))]);
    expect(got.slice(0, 2).map((r) => (r.status === "fulfilled" ? r.value : r.reason))).toEqual([1, 2]);
    expect(got[2]!.status).toBe("rejected");
    const err = (got[2] as PromiseRejectedResult).reason as AppendError;
    expect(err).toBeInstanceOf(AppendError);
    expect(err.reason).toBe("refused");
    expect(err.message).toMatch(/maximum messages/i);
    p.close();
  });

  it("rejects at once when no stream listens on the subject", async () => {
    const p = createLogPublisher(nc, "nobody.log", 5000);
    const t0 = performance.now();
    const err = (await p.publish(Buffer.from("x")).catch((e: unknown) => e)) as AppendError;
    expect(err).toBeInstanceOf(AppendError);
    expect(err.reason).toBe("no_responders");
    expect(performance.now() - t0).toBeLessThan(2000);
    p.close();
  });

  it("rejects after the timeout when the server does not answer, and acknowledges again once it does", async () => {
    const p = createLogPublisher(nc, "pub.log", 300);
    nats.pause();
    try {
      const t0 = performance.now();
      const err = (await p.publish(Buffer.from("late")).catch((e: unknown) => e)) as AppendError;
      const waited = performance.now() - t0;
      expect(err).toBeInstanceOf(AppendError);
      expect(err.reason).toBe("timeout");
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(1500);
    } finally {
      nats.resume();
    }
    // The late entry may still be stored once the server runs again (a receipt was never sent for
    // it: the agent replays it, and replicas drop the copy by its dedup claim); new entries are
    // acknowledged with sequences after it.
    p.close();
    const again = createLogPublisher(nc, "pub.log", 5000);
    expect(await again.publish(Buffer.from("after"))).toBeGreaterThan(200);
    again.close();
  });

  it("rejects what waits when it is closed, and refuses new entries", async () => {
    const p = createLogPublisher(nc, "pub.log", 5000);
    nats.pause();
    let pending: Promise<unknown>;
    try {
      pending = p.publish(Buffer.from("pending")).catch((e: unknown) => e);
      p.close();
    } finally {
      nats.resume();
    }
    expect(((await pending) as AppendError).reason).toBe("closed");
    expect(((await p.publish(Buffer.from("no")).catch((e: unknown) => e)) as AppendError).reason).toBe("closed");
  });
});
