import { toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SinkCommit, SinkError } from "../../../src/aggregator/ingest-sink.js";
import { FlowUpdateSchema } from "../../../src/gen/goldmane/api_pb.js";
import { SCANNED, scanFlowUpdate } from "../../../src/model/flow-update-scan.js";
import { prng, randomUpdate } from "../../helpers/random-updates.js";

describe("SinkCommit", () => {
  it("calls the waiters registered before settlement inside settle, in order, once", () => {
    const c = new SinkCommit();
    const seen: string[] = [];
    c.whenSettled((e) => seen.push(`a:${e?.reason ?? "ok"}`));
    c.whenSettled((e) => seen.push(`b:${e?.reason ?? "ok"}`));
    expect(c.settled).toBe(false);
    c.settle();
    expect(seen).toEqual(["a:ok", "b:ok"]);
    c.settle(new SinkError("unavailable", "late"));
    expect(seen).toEqual(["a:ok", "b:ok"]);
    expect(c.settled).toBe(true);
  });

  it("calls a waiter registered after settlement in a microtask, with the same outcome", async () => {
    const err = new SinkError("unavailable", "down");
    const c = SinkCommit.failed(err);
    let got: SinkError | undefined | "none" = "none";
    c.whenSettled((e) => (got = e));
    expect(got).toBe("none");
    await Promise.resolve();
    expect(got).toBe(err);
  });

  it("a waiter that throws does not keep the others from running", async () => {
    const c = new SinkCommit();
    const seen: number[] = [];
    const thrown = new Promise<unknown>((resolve) => {
      const orig = globalThis.queueMicrotask;
      globalThis.queueMicrotask = (fn) =>
        orig(() => {
          try {
            fn();
          } catch (e) {
            resolve(e);
          }
        });
      c.whenSettled(() => seen.push(1));
      c.whenSettled(() => {
        throw new Error("boom");
      });
      c.whenSettled(() => seen.push(3));
      c.settle();
      globalThis.queueMicrotask = orig;
    });
    expect(seen).toEqual([1, 3]);
    expect(((await thrown) as Error).message).toBe("boom");
  });

  it("is awaitable: resolves when durable, rejects with the SinkError otherwise", async () => {
    const ok = new SinkCommit();
    const bad = new SinkCommit();
    setTimeout(() => ok.settle(), 1);
    setTimeout(() => bad.settle(new SinkError("unavailable", "no ack")), 1);
    await expect(ok).resolves.toBeUndefined();
    await expect(bad).rejects.toBeInstanceOf(SinkError);
  });
});

describe("scanFlowUpdate without the signature (what an ingest replica validates)", () => {
  it("returns what the full scan returns, with the same numbers and an empty signature", () => {
    const rnd = prng(7);
    for (let i = 0; i < 2000; i++) {
      const bytes = toBinary(FlowUpdateSchema, randomUpdate(rnd));
      let full: unknown;
      let fullErr: unknown;
      try {
        const r = scanFlowUpdate(bytes, 0, bytes.length);
        full = r === "scanned" ? { r, startSec: SCANNED.startSec, endSec: SCANNED.endSec, problem: SCANNED.problem, counters: [...SCANNED.counters] } : { r };
        if (r === "scanned") expect(SCANNED.sigLength).toBeGreaterThan(0);
      } catch (e) {
        fullErr = e;
      }
      let lean: unknown;
      let leanErr: unknown;
      try {
        const r = scanFlowUpdate(bytes, 0, bytes.length, false);
        lean = r === "scanned" ? { r, startSec: SCANNED.startSec, endSec: SCANNED.endSec, problem: SCANNED.problem, counters: [...SCANNED.counters] } : { r };
        if (r === "scanned") expect(SCANNED.sigLength).toBe(0);
      } catch (e) {
        leanErr = e;
      }
      expect(lean).toEqual(full);
      expect(String(leanErr)).toBe(String(fullErr));
    }
  });
});
