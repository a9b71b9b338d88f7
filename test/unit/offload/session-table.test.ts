import { describe, expect, it } from "vitest";
import {
  Action,
  AddStatus,
  CloseCode,
  ipv4ToWire,
  ipv6ToBytes,
  manualClock,
  resolveSimConfig,
  seededRandom,
  SessionTable,
  SessionTableError,
  State,
  UINT64_MAX,
  type SessionSpec,
  type SimConfigInput,
} from "../../../src/offload/index.js";

const T0 = 1_700_000_000;
const EMPTY = new Uint8Array(0);

/** A valid IPv4 TCP FORWARD session; `n` varies the source port so tuples differ. */
function spec(id: string | number, n = Number(id) || 0, over: Partial<SessionSpec> = {}): SessionSpec {
  return {
    id: String(id),
    inLif: 1,
    outLif: 2,
    ipVersion: 0,
    sourceIp: ipv4ToWire("10.0.0.1"),
    sourceIpV6: EMPTY,
    sourcePort: 1024 + (n % 60000),
    destinationIp: ipv4ToWire("10.1.0.3"),
    destinationIpV6: EMPTY,
    destinationPort: 80,
    protocol: 6,
    action: { type: Action.FORWARD, nextHop: 0, nextHopV6: EMPTY, proxySrcV4: 0, proxyDstV4: 0, proxySrcV6: EMPTY, proxyDstV6: EMPTY, srcConnId: EMPTY, dstConnId: EMPTY },
    cacheTimeoutSec: 0,
    srcConnId: EMPTY,
    dstConnId: EMPTY,
    ...over,
  };
}

/** A table whose sessions never close on their own unless the test asks. */
function setup(input: SimConfigInput = {}) {
  const clock = manualClock(T0);
  const config = resolveSimConfig({ seed: 42, ...input, traffic: { finPerSec: 0, rstPerSec: 0, idlePerSec: 0, ...input.traffic } });
  const table = new SessionTable(config, { clock, random: seededRandom(config.seed) });
  const step = (sec: number) => {
    clock.advance(sec);
    return table.advance();
  };
  return { clock, table, step };
}

function expectTableError(f: () => unknown, kind: string) {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SessionTableError);
    expect((err as SessionTableError).kind).toBe(kind);
    return;
  }
  expect.fail(`expected SessionTableError ${kind}`);
}

describe("SessionTable.addSessions", () => {
  it("inserts a stream, sets starttime, reports ACCEPTED with no errors", () => {
    const { table } = setup();
    const out = table.addSessions([spec(1), spec(2), spec(3)]);
    expect(out).toEqual({ status: AddStatus.ACCEPTED, errorBits: 0n, startMs: T0 * 1000, errors: [], accepted: 3 });
    const v = table.get(2n);
    expect(v).toMatchObject({ id: "2", numericId: 2n, state: State.ESTABLISHED, closeCode: CloseCode.NOT_CLOSED, inPackets: 0, startMs: T0 * 1000, endMs: undefined });
  });

  it("rejects invalid sessions with bit i of errorstatus and the client's id (reference §2.10)", () => {
    const { table } = setup();
    const v6 = { ipVersion: 1, sourceIpV6: ipv6ToBytes("2001:db8::1"), destinationIpV6: ipv6ToBytes("2001:db8::2") };
    const mirror = (over: object) => ({ ...spec(0).action, type: Action.MIRROR, ...over });
    const proxy = (over: object) => ({ ...spec(0).action, type: Action.PROXY, ...over });
    const cases: Array<[SessionSpec, RegExp]> = [
      [spec("", 1), /missing/],
      [spec("not-a-uuid", 2), /base-10 uint64 or a UUID/],
      [spec(10, 3, { ipVersion: 2 }), /ipversion/],
      [spec(11, 4, { ...v6, sourceIpV6: new Uint8Array(4) }), /sourceipv6: must be 16 bytes/],
      [spec(12, 5, { ...v6, destinationIpV6: EMPTY }), /destinationipv6: must be 16 bytes/],
      [spec(13, 6, { sourceIpV6: ipv6ToBytes("::1") }), /empty for an IPv4 session/],
      [spec(14, 7, { sourcePort: 65536 }), /sourceport/],
      [spec(15, 8, { destinationPort: 70000 }), /destinationport/],
      [spec(16, 9, { protocol: 0 }), /protocolid/],
      [spec(17, 10, { protocol: 1 }), /protocolid/],
      [spec(18, 11, { action: mirror({}) }), /MIRROR needs an IPv4 next hop/],
      [spec(19, 12, { ...v6, action: mirror({ type: Action.SNOOP, nextHop: 5 }) }), /SNOOP needs an IPv6 next hop/],
      [spec(20, 13, { action: proxy({ proxySrcV4: 1 }) }), /PROXY needs IPv4/],
      [spec(21, 14, { ...v6, action: proxy({ proxySrcV4: 1, proxyDstV4: 2 }) }), /PROXY needs IPv6/],
      [spec(22, 15, { srcConnId: new Uint8Array(21) }), /srcconnid: must be at most 20 bytes/],
      [spec(23, 16, { action: { ...spec(0).action, dstConnId: new Uint8Array(21) } }), /action.dstconnid/],
      [spec(24, 17, { action: { ...spec(0).action, type: 9 } }), /actiontype: unknown value 9/],
    ];
    const good = spec(99);
    const out = table.addSessions([good, ...cases.map(([s]) => s)]);
    expect(out.status).toBe(AddStatus.REJECTED);
    expect(out.accepted).toBe(1);
    expect(out.errors).toHaveLength(cases.length);
    let bits = 0n;
    cases.forEach(([s, detail], i) => {
      const e = out.errors[i]!;
      expect(e.index).toBe(i + 1);
      expect(e.id).toBe(s.id);
      expect(e.code).toBe(AddStatus.REJECTED);
      expect(e.reason).toBe("invalid");
      expect(e.detail).toMatch(detail);
      bits |= 1n << BigInt(i + 1);
    });
    expect(out.errorBits).toBe(bits);
    expect(table.size).toBe(1);
  });

  it("accepts valid MIRROR/SNOOP/PROXY/QUIC sessions of both families", () => {
    const { table } = setup();
    const v6 = { ipVersion: 1, sourceIpV6: ipv6ToBytes("2001:db8::1"), destinationIpV6: ipv6ToBytes("2001:db8::2") };
    const a = spec(0).action;
    const out = table.addSessions([
      spec(1, 1, { action: { ...a, type: Action.MIRROR, nextHop: ipv4ToWire("12.2.3.4") } }),
      spec(2, 2, { ...v6, action: { ...a, type: Action.SNOOP, nextHopV6: ipv6ToBytes("2001:db8::9") } }),
      spec(3, 3, { action: { ...a, type: Action.PROXY, proxySrcV4: 1, proxyDstV4: 2 } }),
      spec(4, 4, { ...v6, protocol: 17, srcConnId: new Uint8Array(20), action: { ...a, type: Action.PROXY, proxySrcV6: ipv6ToBytes("::1"), proxyDstV6: ipv6ToBytes("::2"), srcConnId: new Uint8Array(8), dstConnId: new Uint8Array(8) } }),
      spec(5, 5, { action: { ...a, type: Action.DROP }, inLif: -7, outLif: 123456 }),
    ]);
    expect(out.errors).toEqual([]);
    expect(out.accepted).toBe(5);
  });

  it("reports duplicates by id and by 7-tuple, in the table and earlier in the stream", () => {
    const { table } = setup();
    table.addSessions([spec(1, 1)]);
    const out = table.addSessions([
      spec(1, 50), // same id as in the table
      spec(2, 1), // same tuple as session 1
      spec(3, 3),
      spec(4, 4),
      spec("0004", 60), // same id as #3 of this stream ("0004" = 4)
      spec(6, 3), // same tuple as #2 of this stream
    ]);
    expect(out.status).toBe(AddStatus.ALREADY_EXISTS);
    expect(out.errors.map((e) => [e.index, e.id, e.code, e.reason])).toEqual([
      [0, "1", 4, "duplicate_id"],
      [1, "2", 4, "duplicate_tuple"],
      [4, "0004", 4, "duplicate_id"],
      [5, "6", 4, "duplicate_tuple"],
    ]);
    expect(out.errorBits).toBe(0b110011n);
    expect(out.accepted).toBe(2);
  });

  it("compares IPv4 and IPv6 tuples separately", () => {
    const { table } = setup();
    const v6 = (id: number, addr: string) => spec(id, 1, { ipVersion: 1, sourceIp: 0, destinationIp: 0, sourceIpV6: ipv6ToBytes(addr), destinationIpV6: ipv6ToBytes("::2") });
    const out = table.addSessions([spec(1, 1, { sourceIp: 0, destinationIp: 0 }), v6(2, "::1"), v6(3, "::3"), v6(4, "::1")]);
    expect(out.errors.map((e) => [e.id, e.reason])).toEqual([["4", "duplicate_tuple"]]);
  });

  it("accepts a duplicate tuple when tuple dedup is off, still rejecting duplicate ids", () => {
    const { table } = setup({ tupleDedup: false });
    const out = table.addSessions([spec(1, 1), spec(2, 1), spec(1, 1)]);
    expect(out.errors.map((e) => [e.index, e.reason])).toEqual([[2, "duplicate_id"]]);
  });

  it("checks capacity for the whole stream first and inserts nothing when it does not fit", () => {
    const { table } = setup({ capacity: 5 });
    expect(table.addSessions([spec(1), spec(2), spec(3)]).accepted).toBe(3);
    const out = table.addSessions([spec(4), spec(5), spec("bad id")]);
    expect(out.status).toBe(AddStatus.TABLE_FULL);
    expect(out.errorBits).toBe(0b111n);
    expect(out.errors.map((e) => [e.id, e.code, e.reason])).toEqual([
      ["4", 2, "table_full"],
      ["5", 2, "table_full"],
      ["bad id", 2, "table_full"],
    ]);
    expect(table.size).toBe(3);
    expect(table.addSessions([spec(4), spec(5)]).accepted).toBe(2);
    expect(table.addSessions([spec(6)]).status).toBe(AddStatus.TABLE_FULL);
  });

  it("refuses more than 64 sessions in one stream, and takes exactly 64 with all bits usable", () => {
    const { table } = setup();
    expectTableError(() => table.addSessions(Array.from({ length: 65 }, (_, i) => spec(i + 1))), "too_many");
    expect(table.size).toBe(0);
    const specs = Array.from({ length: 64 }, (_, i) => spec(i === 63 ? "" : i + 1, i + 1));
    const out = table.addSessions(specs);
    expect(out.errorBits).toBe(1n << 63n);
    expect(out.accepted).toBe(63);
  });

  it("treats an empty stream as accepted", () => {
    const { table } = setup();
    expect(table.addSessions([])).toMatchObject({ status: AddStatus.ACCEPTED, errorBits: 0n, accepted: 0 });
  });
});

describe("SessionTable get/delete", () => {
  it("finds sessions by numeric id, for decimal and UUID ids", () => {
    const { table } = setup();
    table.addSessions([spec("1001", 1), spec("9b2e1c4d-0f3a-4b5c-0000-0000000007d2", 2), spec(UINT64_MAX.toString(), 3)]);
    expect(table.get(1001n).id).toBe("1001");
    expect(table.get(2002n).id).toBe("9b2e1c4d-0f3a-4b5c-0000-0000000007d2");
    expect(table.get(UINT64_MAX).numericId).toBe(UINT64_MAX);
  });

  it("reports unknown ids as not_found, shared numbers as ambiguous", () => {
    const { table } = setup();
    table.addSessions([spec("1001", 1), spec("00000000-0000-0000-0000-0000000003e9", 2), spec("11111111-0000-0000-0000-0000000003ea", 3)]);
    expectTableError(() => table.get(5n), "not_found");
    expectTableError(() => table.delete(5n), "not_found");
    expectTableError(() => table.get(1001n), "ambiguous");
    expectTableError(() => table.delete(1001n), "ambiguous");
    expect(table.get(1002n).id).toBe("11111111-0000-0000-0000-0000000003ea");
  });

  it("delete returns the final counters, marks an open session CLOSED and frees id, tuple and slot", () => {
    const { table, step } = setup({ capacity: 1 });
    table.addSessions([spec(7, 7)]);
    step(3);
    const before = table.get(7n);
    expect(before.inPackets).toBeGreaterThan(0);
    step(1);
    const now = table.get(7n);
    const gone = table.delete(7n);
    expect(gone).toMatchObject({ id: "7", state: State.CLOSED, closeCode: CloseCode.UNKNOWN, inPackets: now.inPackets, outBytes: now.outBytes, endMs: (T0 + 4) * 1000 });
    expectTableError(() => table.get(7n), "not_found");
    expect(table.size).toBe(0);
    expect(table.addSessions([spec(7, 7)]).accepted).toBe(1);
  });

  it("delete of a session already closed keeps its close code and end time", () => {
    const { table, step } = setup({ traffic: { rstPerSec: 1 } });
    table.addSessions([spec(1)]);
    step(1);
    const v = table.delete(1n);
    expect(v).toMatchObject({ state: State.CLOSED, closeCode: CloseCode.RST, endMs: (T0 + 1) * 1000 });
  });
});

describe("SessionTable listing", () => {
  function filled(n: number, input: SimConfigInput = {}) {
    const s = setup(input);
    for (let i = 0; i < n; i += 64) {
      s.table.addSessions(Array.from({ length: Math.min(64, n - i) }, (_, k) => spec(1000 + i + k)));
    }
    return s;
  }
  const ids = (p: { sessions: Array<{ id: string }> }) => p.sessions.map((s) => Number(s.id));

  it("OPI: all sessions in insertion order, capped, with nextkey paging to the end", () => {
    const { table } = filled(25, { maxPageSize: 10 });
    const seen: number[] = [];
    let startKey = 0n;
    const keys: bigint[] = [];
    do {
      if (keys.length > 10) expect.fail("paging never ended");
      const page = table.listOpi({ id: "", state: 0, startKey });
      expect(page.sessions.length).toBeLessThanOrEqual(10);
      seen.push(...ids(page));
      startKey = page.nextKey;
      keys.push(startKey);
    } while (startKey !== 0n);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => 1000 + i));
    expect(keys).toEqual([11n, 21n, 0n]);
  });

  it("OPI: a state filter, an id filter, and zero ids meaning all", () => {
    const { table, step } = filled(4);
    table.addSessions([spec(77, 77)]);
    step(1);
    expect(ids(table.listOpi({ id: "1002", state: 0, startKey: 0n }))).toEqual([1002]);
    expect(ids(table.listOpi({ id: "01002", state: 0, startKey: 0n }))).toEqual([1002]);
    expect(ids(table.listOpi({ id: "5555", state: 0, startKey: 0n }))).toEqual([]);
    expect(ids(table.listOpi({ id: "0", state: 0, startKey: 0n }))).toHaveLength(5);
    expect(ids(table.listOpi({ id: "00000000-0000-0000-0000-000000000000", state: 0, startKey: 0n }))).toHaveLength(5);
    expect(ids(table.listOpi({ id: "", state: State.CLOSED, startKey: 0n }))).toEqual([]);
    expect(ids(table.listOpi({ id: "1002", state: State.CLOSED, startKey: 0n }))).toEqual([]);
  });

  it("OPI: the state filter sees closed sessions and pages over matches only", () => {
    const { table, step } = setup({ maxPageSize: 2, traffic: { rstPerSec: 0.5 } });
    table.addSessions(Array.from({ length: 20 }, (_, i) => spec(i + 1)));
    step(2);
    const closed = table.listV1({ pageSize: 0, page: 0, startSession: 0n }).sessions.filter((s) => s.state === State.CLOSED);
    expect(closed.length).toBeGreaterThan(2);
    const seen: string[] = [];
    let startKey = 0n;
    do {
      if (seen.length > 20) expect.fail("paging never ended");
      const page = table.listOpi({ id: "", state: State.CLOSED, startKey });
      expect(page.sessions.every((s) => s.state === State.CLOSED)).toBe(true);
      seen.push(...page.sessions.map((s) => s.id));
      startKey = page.nextKey;
    } while (startKey !== 0n);
    expect(seen).toEqual(closed.map((s) => s.id));
  });

  it("v1: page/pageSize as the reference simulator, whole table for {0,0}", () => {
    const { table } = filled(12);
    expect(ids(table.listV1({ pageSize: 0, page: 0, startSession: 0n }))).toHaveLength(12);
    expect(ids(table.listV1({ pageSize: 5, page: 2, startSession: 0n }))).toEqual([1005, 1006, 1007, 1008, 1009]);
    expect(ids(table.listV1({ pageSize: 5, page: 3, startSession: 0n }))).toEqual([1010, 1011]);
    expect(ids(table.listV1({ pageSize: 5, page: 9, startSession: 0n }))).toEqual([]);
    expect(ids(table.listV1({ pageSize: 5, page: 0, startSession: 0n }))).toHaveLength(12);
    expect(ids(table.listV1({ pageSize: 0, page: 2, startSession: 0n }))).toHaveLength(12);
    expect(table.listV1({ pageSize: 5, page: 2, startSession: 0n }).nextKey).toBe(1009n);
  });

  it("v1: the C client's cursor, ascending ids after startSession, at most 64, nextkey = last id", () => {
    const s = setup();
    // Insert out of numeric order to show the cursor sorts by id.
    s.table.addSessions(Array.from({ length: 64 }, (_, i) => spec(200 - i)));
    s.table.addSessions(Array.from({ length: 36 }, (_, i) => spec(i)));
    const first = s.table.listV1({ pageSize: 64, page: 0, startSession: 0xffffffffn });
    expect(ids(first)).toEqual(Array.from({ length: 64 }, (_, i) => (i < 36 ? i : 137 + (i - 36))));
    expect(first.nextKey).toBe(164n);
    const second = s.table.listV1({ pageSize: 64, page: 0, startSession: first.nextKey });
    expect(ids(second)).toEqual(Array.from({ length: 36 }, (_, i) => 165 + i));
    const third = s.table.listV1({ pageSize: 64, page: 0, startSession: second.nextKey });
    expect(third).toEqual({ sessions: [], nextKey: 0n });
    expect(ids(s.table.listV1({ pageSize: 500, page: 0, startSession: UINT64_MAX }))).toHaveLength(64);
    expect(ids(s.table.listV1({ pageSize: 10, page: 0, startSession: 5n }))).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
});

describe("SessionTable v1 cursor index", () => {
  it("matches a brute-force sort through random adds, deletes, drains and shared numeric ids", () => {
    const { table, step } = setup({ traffic: { rstPerSec: 0.2 } });
    const rnd = seededRandom(77);
    const live = new Set<string>();
    for (let round = 0; round < 40; round++) {
      const batch = Array.from({ length: rnd.int(1, 10) }, () => {
        const n = rnd.int(0, 300);
        // Some ids share a numeric id with a decimal one: UUIDs whose low 64 bits equal n.
        return rnd.next() < 0.2 ? `00000000-0000-0000-0000-${n.toString(16).padStart(12, "0")}` : String(n);
      });
      table.addSessions(batch.map((id, i) => spec(id, round * 16 + i)));
      for (const id of batch) live.add(id);
      if (rnd.next() < 0.5) {
        const all = table.listV1({ pageSize: 0, page: 0, startSession: 0n }).sessions;
        const victim = all[rnd.int(0, Math.max(0, all.length - 1))];
        if (victim) {
          try {
            table.delete(victim.numericId);
          } catch (err) {
            expect((err as SessionTableError).kind).toBe("ambiguous");
          }
        }
      }
      step(1);
      if (rnd.next() < 0.3) table.drainClosed(rnd.int(0, 3));
      const everything = table.listV1({ pageSize: 0, page: 0, startSession: 0n }).sessions;
      const expected = [...everything].sort((a, b) => (a.numericId < b.numericId ? -1 : a.numericId > b.numericId ? 1 : 0)).map((v) => v.id);
      const paged: string[] = [];
      let start = UINT64_MAX;
      for (let calls = 0; calls < 100; calls++) {
        const page = table.listV1({ pageSize: 7, page: 0, startSession: start });
        if (page.sessions.length === 0) break;
        paged.push(...page.sessions.map((v) => v.id));
        start = page.nextKey;
      }
      // Sessions sharing a numeric id are skipped after the first page boundary that lands on them,
      // exactly as a cursor over ids must; compare the distinct numeric ids in order.
      const ids = (xs: string[]) => [...new Set(xs.map((x) => everything.find((v) => v.id === x)!.numericId))];
      expect(ids(paged)).toEqual(ids(expected));
      // The first page has no boundary: exact order, ties by insertion.
      expect(table.listV1({ pageSize: 64, page: 0, startSession: 0xffffffffn }).sessions.map((v) => v.id)).toEqual(expected.slice(0, 64));
    }
    expect(live.size).toBeGreaterThan(50);
  });
});

describe("SessionTable traffic model", () => {
  it("advances every open session's counters every tick by default", () => {
    const clock = manualClock(T0);
    const table = new SessionTable(resolveSimConfig({ seed: 3 }), { clock, random: seededRandom(3) });
    table.addSessions(Array.from({ length: 50 }, (_, i) => spec(i + 1)));
    let prev = table.listV1({ pageSize: 0, page: 0, startSession: 0n }).sessions;
    for (let t = 0; t < 5; t++) {
      clock.advance(1);
      table.advance();
      const cur = table.listV1({ pageSize: 0, page: 0, startSession: 0n }).sessions;
      cur.forEach((s, i) => {
        if (s.state === State.CLOSED) return;
        expect(s.inPackets).toBeGreaterThan(prev[i]!.inPackets);
        expect(s.outPackets).toBeGreaterThan(prev[i]!.outPackets);
        expect(s.inBytes).toBeGreaterThanOrEqual(s.inPackets * 64);
        expect(s.inBytes).toBeLessThanOrEqual(s.inPackets * 1500);
      });
      prev = cur;
    }
  });

  it("moves counters at the configured rates and not before the first tick", () => {
    const { table, step } = setup({ traffic: { packetsPerSec: [10, 10], bytesPerPacket: [100, 100] } });
    table.addSessions([spec(1)]);
    expect(step(0.999).ticks).toBe(0);
    expect(table.get(1n).inPackets).toBe(0);
    step(0.001);
    const after1 = table.get(1n);
    expect(after1.inPackets).toBeGreaterThanOrEqual(5);
    expect(after1.inPackets).toBeLessThan(15);
    expect(after1.inBytes).toBe(after1.inPackets * 100);
    step(99);
    const after100 = table.get(1n);
    expect(after100.inPackets).toBeGreaterThan(700);
    expect(after100.inPackets).toBeLessThan(1300);
  });

  it("is deterministic for a seed and a sequence of calls", () => {
    const run = (seed: number) => {
      const clock = manualClock(T0);
      const table = new SessionTable(resolveSimConfig({ seed, traffic: { finPerSec: 0.05, rstPerSec: 0.02, idlePerSec: 0.05 } }), { clock, random: seededRandom(seed) });
      table.addSessions(Array.from({ length: 30 }, (_, i) => spec(i + 1, i + 1, { protocol: i % 3 === 0 ? 17 : 6, cacheTimeoutSec: 5 })));
      for (let t = 0; t < 60; t++) {
        clock.advance(1);
        table.advance();
      }
      return table.listV1({ pageSize: 0, page: 0, startSession: 0n });
    };
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
  });

  it("closes TCP by FIN through CLOSING_1 and CLOSING_2, keeping final counters until drained", () => {
    const { table, step } = setup({ traffic: { finPerSec: 1 } });
    table.addSessions([spec(1), spec(2, 2, { protocol: 17 })]);
    step(1);
    expect(table.get(1n).state).toBe(State.CLOSING_1);
    expect(table.get(2n).state).toBe(State.ESTABLISHED);
    step(1);
    expect(table.get(1n).state).toBe(State.CLOSING_2);
    const out = step(1);
    expect(out.closed).toEqual({ finack: 1, rst: 0, timeout: 0 });
    const closed = table.get(1n);
    expect(closed).toMatchObject({ state: State.CLOSED, closeCode: CloseCode.FINACK, endMs: (T0 + 3) * 1000 });
    step(10);
    expect(table.get(1n)).toEqual(closed);
    expect(table.drainClosed()).toEqual([closed]);
    expect(table.drainClosed()).toEqual([]);
    expectTableError(() => table.get(1n), "not_found");
    expect(table.get(2n).state).toBe(State.ESTABLISHED);
  });

  it("resets TCP with RST", () => {
    const { table, step } = setup({ traffic: { rstPerSec: 1 } });
    table.addSessions([spec(1)]);
    expect(step(1).closed.rst).toBe(1);
    expect(table.get(1n)).toMatchObject({ state: State.CLOSED, closeCode: CloseCode.RST, inPackets: 1, outPackets: 0 });
  });

  it("ages idle sessions out after cachetimeout, with default and maximum", () => {
    const { table, step } = setup({ defaultCacheTimeoutSec: 10, maxCacheTimeoutSec: 20, traffic: { idlePerSec: 1 } });
    table.addSessions([spec(1, 1, { cacheTimeoutSec: 3 }), spec(2, 2, { cacheTimeoutSec: 0, protocol: 17 }), spec(3, 3, { cacheTimeoutSec: 1000 })]);
    step(1); // all go idle at the first tick; no packets ever
    step(1);
    expect(table.get(1n).state).toBe(State.ESTABLISHED);
    step(1);
    expect(table.get(1n)).toMatchObject({ state: State.CLOSED, closeCode: CloseCode.TIMEOUT, endMs: (T0 + 3) * 1000, inPackets: 0 });
    step(6);
    expect(table.get(2n).state).toBe(State.ESTABLISHED);
    step(1);
    expect(table.get(2n)).toMatchObject({ state: State.CLOSED, closeCode: CloseCode.TIMEOUT, endMs: (T0 + 10) * 1000 });
    step(9);
    expect(table.get(3n).state).toBe(State.ESTABLISHED);
    const out = step(1);
    expect(out.closed.timeout).toBe(1);
    expect(table.get(3n)).toMatchObject({ closeCode: CloseCode.TIMEOUT, endMs: (T0 + 20) * 1000 });
  });

  it("ages a session that went idle after sending, from its last packet", () => {
    // Draws: seed chosen so the session is active for a while before going idle.
    const { table, step } = setup({ seed: 5, traffic: { idlePerSec: 0.3 } });
    table.addSessions([spec(1, 1, { cacheTimeoutSec: 2 })]);
    for (let i = 0; i < 40 && table.get(1n).state !== State.CLOSED; i++) step(1);
    const v = table.get(1n);
    expect(v.closeCode).toBe(CloseCode.TIMEOUT);
    expect(v.inPackets).toBeGreaterThan(0);
    expect(v.endMs! - v.startMs).toBeGreaterThan(2000);
  });

  it("closed sessions keep their slot until drained", () => {
    const { table, step } = setup({ capacity: 2, traffic: { rstPerSec: 1 } });
    table.addSessions([spec(1), spec(2)]);
    step(1);
    expect(table.addSessions([spec(3)]).status).toBe(AddStatus.TABLE_FULL);
    expect(table.drainClosed(1).map((s) => s.id)).toEqual(["1"]);
    expect(table.addSessions([spec(3)]).accepted).toBe(1);
    expect(table.countByState()).toEqual([1, 0, 0, 1, 0]);
  });

  it("skips ticks beyond maxCatchUpTicks instead of replaying hours of traffic", () => {
    const { table, step } = setup({ maxCatchUpTicks: 10 });
    table.addSessions([spec(1)]);
    const out = step(100);
    expect(out).toMatchObject({ ticks: 10, skippedTicks: 90 });
  });
});

describe("resolveSimConfig", () => {
  it("validates every field and freezes the result", () => {
    const c = resolveSimConfig({ capacity: 19 });
    expect(c.capacity).toBe(19);
    expect(Object.isFrozen(c) && Object.isFrozen(c.traffic)).toBe(true);
    expect(() => resolveSimConfig({ capacity: -1 })).toThrow(/capacity/);
    expect(() => resolveSimConfig({ traffic: { finPerSec: 2 } })).toThrow(/finPerSec/);
    expect(() => resolveSimConfig({ traffic: { packetsPerSec: [5, 1] } })).toThrow(/packetsPerSec/);
    expect(() => resolveSimConfig({ defaultCacheTimeoutSec: 100, maxCacheTimeoutSec: 50 })).toThrow(/maxCacheTimeoutSec/);
    expect(() => resolveSimConfig({ traffic: { finPerSec: 0.6, rstPerSec: 0.6 } })).toThrow(/<= 1/);
  });
});

describe("seededRandom", () => {
  it("repeats for a seed and stays in range", () => {
    const a = seededRandom(123);
    const b = seededRandom(123);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const r = seededRandom(1);
    const ints = Array.from({ length: 2000 }, () => r.int(3, 5));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]));
    expect(seededRandom(1).next()).not.toBe(seededRandom(2).next());
  });
});
