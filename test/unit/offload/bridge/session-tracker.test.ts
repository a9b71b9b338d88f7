import { describe, expect, it } from "vitest";
import { SessionTracker, type SessionSnapshot } from "../../../../src/offload/bridge/index.js";

const T = 1_700_000_100;
function s(id: string, c: number | bigint, o: Partial<SessionSnapshot> = {}): SessionSnapshot {
  const v = BigInt(c);
  return { id, numericId: BigInt(id), inPackets: v, outPackets: v, inBytes: v * 100n, outBytes: v * 100n, state: 0, closeCode: 0, startSec: T - 100, ...o };
}

describe("SessionTracker", () => {
  it("records a baseline on the first poll and emits nothing (no restart spike)", () => {
    const t = new SessionTracker(3600);
    const out = t.observe(T, [s("1", 1000), s("2", 5, { state: 3, closeCode: 1 })]);
    expect(out).toMatchObject({ baseline: true, deltas: [], newSessions: 2, open: 1 });
    const next = t.observe(T + 15, [s("1", 1010), s("2", 5, { state: 3, closeCode: 1 })]);
    expect(next.deltas).toEqual([{ id: "1", inPackets: 10n, outPackets: 10n, inBytes: 1000n, outBytes: 1000n, started: 0, completed: 0, live: 1 }]);
  });

  it("counts a new session from zero as started, and only changed sessions", () => {
    const t = new SessionTracker(3600);
    t.observe(T, []);
    const out = t.observe(T + 15, [s("7", 3)]);
    expect(out.deltas).toEqual([{ id: "7", inPackets: 3n, outPackets: 3n, inBytes: 300n, outBytes: 300n, started: 1, completed: 0, live: 1 }]);
    expect(t.observe(T + 30, [s("7", 3)]).deltas).toEqual([]);
  });

  it("is exact beyond 2^53 (BigInt)", () => {
    const t = new SessionTracker(3600);
    const big = (1n << 62n) + 1n;
    t.observe(T, [s("1", big)]);
    expect(t.observe(T + 15, [s("1", big + 3n)]).deltas[0]!.inPackets).toBe(3n);
  });

  it("counts completion once: closed, listed closed again, then drained", () => {
    const t = new SessionTracker(3600);
    t.observe(T, [s("1", 10)]);
    const closed = t.observe(T + 15, [s("1", 12, { state: 3, closeCode: 1 })]);
    expect(closed.deltas).toMatchObject([{ id: "1", inPackets: 2n, completed: 1, live: 0 }]);
    expect(t.observe(T + 30, [s("1", 12, { state: 3, closeCode: 1 })]).deltas).toEqual([]);
    // Drained elsewhere: gone, already complete, nothing lost.
    const gone = t.observe(T + 45, []);
    expect(gone).toMatchObject({ deltas: [], lostFinalDeltas: 0 });
    // Listed once more (a paging race): the tombstone keeps it from being counted again.
    expect(t.observe(T + 60, [s("1", 12, { state: 3, closeCode: 1 })]).deltas).toEqual([]);
  });

  it("uses a final read (delete reply, drain) for the last delta", () => {
    const t = new SessionTracker(3600);
    t.observe(T, [s("1", 10)]);
    const out = t.observe(T + 15, [], [s("1", 15, { state: 3, closeCode: 4 })]);
    expect(out.deltas).toMatchObject([{ id: "1", inPackets: 5n, completed: 1, live: 0 }]);
    expect(out.lostFinalDeltas).toBe(0);
  });

  it("completes a session that vanished while open and counts its lost final delta", () => {
    const t = new SessionTracker(3600);
    t.observe(T, [s("1", 10)]);
    const out = t.observe(T + 15, []);
    expect(out.deltas).toEqual([{ id: "1", inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, started: 0, completed: 1, live: 0 }]);
    expect(out.lostFinalDeltas).toBe(1);
  });

  it("treats counters going down as a reset: a new instance counted from zero", () => {
    const t = new SessionTracker(3600);
    t.observe(T, [s("1", 100)]);
    const out = t.observe(T + 15, [s("1", 4)]);
    expect(out.resets).toEqual({ counter: 1, reuse: 0 });
    expect(out.deltas).toMatchObject([{ inPackets: 4n, started: 1, completed: 1, live: 1 }]);
  });

  it("treats a changed start time as id reuse", () => {
    const t = new SessionTracker(3600);
    t.observe(T, [s("1", 100)]);
    const out = t.observe(T + 15, [s("1", 200, { startSec: T + 5 })]);
    expect(out.resets).toEqual({ counter: 0, reuse: 1 });
    expect(out.deltas).toMatchObject([{ inPackets: 200n, started: 1, completed: 1 }]);
    expect(out.lostFinalDeltas).toBe(1);
  });

  it("lists unlisted known sessions for confirmation, and forgets tombstones after the ttl", () => {
    const t = new SessionTracker(60);
    t.observe(T, [s("1", 1), s("2", 1)]);
    expect(t.missing(new Set(["1"]))).toEqual(["2"]);
    t.observe(T + 15, [s("1", 1, { state: 3, closeCode: 3 })]);
    t.observe(T + 30, []);
    // After the ttl the same (id, start) counts as new again.
    t.observe(T + 200, []);
    expect(t.observe(T + 215, [s("1", 1, { state: 3, closeCode: 3 })]).deltas).toMatchObject([{ started: 1, completed: 1 }]);
  });
});
