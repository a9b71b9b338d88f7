import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Action, MatchType, PolicyKind, Reporter, SortBy } from "../../../src/gen/goldmane/api_pb.js";
import type { FlowRow } from "../../../src/model/flow.js";
import { QueryError } from "../../../src/query/errors.js";
import { parseListRequest, toConnectError, type QueryContext } from "../../../src/server/parse-request.js";
import {
  T0,
  countersOf,
  listRequest,
  policyHit,
  scaledCounters,
  testAggregator,
  type ListRequestInit,
  type TestAggregator,
} from "../../helpers/flow-fixtures.js";

const W = 15;
const names = (rows: FlowRow[]) => rows.map((r) => r.key.sourceName);
const ids = (rows: FlowRow[]) => rows.map((r) => r.id);

/** One flow per named key (source name = the name) at `startSec`. */
function ingestNamed(t: TestAggregator, startSec: number, ...keys: string[]): void {
  for (const k of keys) t.ingest({ key: { sourceName: k }, startSec });
}

describe("List: TestTimeRanges (Goldmane's example with 1 s buckets, now = 1000)", () => {
  // One key per second from 942 to 1001 (60 keys); the ring covers [760, 1002).
  //
  // Goldmane's numbers all hold for us: with W = 1 and a whole-second now, `lt` never cuts a bucket,
  // so the zero rows Goldmane returns for keys whose only data lies in a bucket straddling `lt` do not
  // arise here. `{}` gives 58 in Goldmane as well because now == R (the first second after a
  // rollover), where Goldmane leaves the current bucket's keys out instead of returning zero rows.
  // The W = 15 test below shows the case where we differ.
  const setup = () => {
    const t = testAggregator({ windowSec: 1, historyBuckets: 240 }, 1000);
    for (let s = 942; s <= 1001; s++) expect(t.ingest({ key: { sourceName: `k${s}` }, startSec: s })).toBe("stored");
    return t;
  };

  it("{} → 58 rows: everything but the filling bucket (1000) and the future bucket (1001)", () => {
    const t = setup();
    const rows = t.rows();
    expect(rows).toHaveLength(58);
    expect(rows[0]!.startSec).toBe(999);
    expect(rows.at(-1)!.startSec).toBe(942);
    expect(t.list().meta).toEqual({ totalPages: 1, totalResults: 58 });
  });

  it("lt = now + 2 → 60 rows", () => {
    expect(setup().rows({ startTimeLt: 1002n })).toHaveLength(60);
  });

  it("gte = now − 10, lt = now → 10 rows (990…999)", () => {
    const rows = setup().rows({ startTimeGte: 990n, startTimeLt: 1000n });
    expect(rows.map((r) => r.startSec)).toEqual([999, 998, 997, 996, 995, 994, 993, 992, 991, 990]);
  });

  it("gte = now − 12, lt = now − 7 → 5 rows", () => {
    expect(setup().rows({ startTimeGte: 988n, startTimeLt: 993n }).map((r) => r.startSec)).toEqual([992, 991, 990, 989, 988]);
  });

  it("gte = −20, lt = −5 (relative) → 15 rows", () => {
    const rows = setup().rows({ startTimeGte: -20n, startTimeLt: -5n });
    expect(rows).toHaveLength(15);
    expect(rows[0]!.startSec).toBe(994);
    expect(rows.at(-1)!.startSec).toBe(980);
  });

  it("a range entirely in the future → 0 rows", () => {
    const t = setup();
    expect(t.rows({ startTimeGte: 1005n, startTimeLt: 1010n })).toEqual([]);
    expect(t.list({ startTimeGte: 1005n, startTimeLt: 1010n }).meta).toEqual({ totalPages: 0, totalResults: 0 });
  });

  it("gte > lt → error", () => {
    expect(() => setup().list({ startTimeGte: 995n, startTimeLt: 990n })).toThrow(QueryError);
  });
});

describe("List: which keys and buckets count", () => {
  it("returns no zero rows: a key whose only data is in the partial filling bucket is absent (Goldmane returns it with zeros)", () => {
    const t = testAggregator({}, T0 + 7); // filling bucket [T0, T0 + 15), now inside it
    t.ingest({ key: { sourceName: "current" }, startSec: T0 + 1 });
    t.ingest({ key: { sourceName: "future" }, startSec: T0 + W + 1 });
    t.ingest({ key: { sourceName: "past" }, startSec: T0 - W });
    const rows = t.rows();
    expect(names(rows)).toEqual(["past"]);
    expect(rows.every((r) => r.startSec > 0 && countersOf(r).packetsIn > 0)).toBe(true);
    expect(t.list().meta).toEqual({ totalPages: 1, totalResults: 1 });
    // Once the buckets are whole (lt at the future bucket's end), both show up.
    expect(names(t.rows({ startTimeLt: BigInt(T0 + 2 * W) }))).toEqual(["future", "current", "past"]);
  });

  it("counts only buckets wholly inside [gte, lt)", () => {
    const t = testAggregator();
    for (const s of [T0 - 60, T0 - 45, T0 - 30]) t.ingest({ startSec: s });
    const one = t.rows({ startTimeGte: BigInt(T0 - 50), startTimeLt: BigInt(T0 - 20) });
    expect(one).toHaveLength(1);
    expect(one[0]!.startSec).toBe(T0 - 45);
    expect(one[0]!.endSec).toBe(T0 - 30);
    expect(countersOf(one[0]!)).toEqual(scaledCounters(1));

    const all = t.rows({ startTimeGte: BigInt(T0 - 60), startTimeLt: BigInt(T0 - 15) });
    expect(all[0]!.startSec).toBe(T0 - 60);
    expect(all[0]!.endSec).toBe(T0 - 15);
    expect(countersOf(all[0]!)).toEqual(scaledCounters(3));

    // Ranges that only cut buckets hold nothing.
    expect(t.rows({ startTimeGte: BigInt(T0 - 59), startTimeLt: BigInt(T0 - 46) })).toEqual([]);
    expect(t.rows({ startTimeGte: BigInt(T0 - 40), startTimeLt: BigInt(T0 - 20) })).toEqual([]);
  });

  it("uses the min start and max end of the windows used, gaps not represented", () => {
    const t = testAggregator();
    t.ingest({ startSec: T0 - 3600 });
    t.ingest({ startSec: T0 - 60 });
    const [row] = t.rows();
    expect(row!.startSec).toBe(T0 - 3600);
    expect(row!.endSec).toBe(T0 - 45);
    expect(countersOf(row!)).toEqual(scaledCounters(2));
  });

  it("normalises a relative range against the clock", () => {
    const t = testAggregator({}, T0 + 7);
    for (const s of [T0 - 60, T0 - 45, T0 - 30, T0 - 15]) t.ingest({ startSec: s });
    // [now − 60, now) = [T0 − 53, T0 + 7): whole buckets T0 − 45 … T0 − 15.
    const [row] = t.rows({ startTimeGte: -60n });
    expect(row!.startSec).toBe(T0 - 45);
    expect(row!.endSec).toBe(T0);
    expect(countersOf(row!)).toEqual(scaledCounters(3));
  });

  it("sums all counters over windows and nodes", () => {
    const t = testAggregator();
    t.ingest({ startSec: T0 - 60 }, "10.0.0.1");
    t.ingest({ startSec: T0 - 60 }, "10.0.0.2");
    t.ingest({ startSec: T0 - 30, counters: { numConnectionsLive: 100 } }, "10.0.0.1");
    const [row] = t.rows();
    expect(countersOf(row!)).toEqual({ ...scaledCounters(3), numConnectionsLive: 2 * 5 + 100 });
  });

  it("intersects labels strictly across buckets: once empty it stays empty (Goldmane would reset)", () => {
    const t = testAggregator();
    const key = (n: string) => ({ sourceName: n });
    // {a, x}, {}, {y}: Goldmane gives {y}; strict intersection gives ∅.
    t.ingest({ key: key("reset"), startSec: T0 - 90, sourceLabels: ["a=1", "x=1"] });
    t.ingest({ key: key("reset"), startSec: T0 - 75, sourceLabels: [] });
    t.ingest({ key: key("reset"), startSec: T0 - 60, sourceLabels: ["y=1"] });
    // {a}, {b}, {c}: Goldmane gives {c}.
    t.ingest({ key: key("abc"), startSec: T0 - 90, sourceLabels: ["a=1"] });
    t.ingest({ key: key("abc"), startSec: T0 - 75, sourceLabels: ["b=1"] });
    t.ingest({ key: key("abc"), startSec: T0 - 60, sourceLabels: ["c=1"] });
    // {a, b}, {b, c}: {b}.
    t.ingest({ key: key("ok"), startSec: T0 - 90, sourceLabels: ["a=1", "b=1"], destLabels: ["d=1"] });
    t.ingest({ key: key("ok"), startSec: T0 - 60, sourceLabels: ["c=1", "b=1"], destLabels: ["d=1", "e=1"] });
    const byName = new Map(t.rows().map((r) => [r.key.sourceName, r]));
    expect(byName.get("reset")!.sourceLabels).toEqual([]);
    expect(byName.get("abc")!.sourceLabels).toEqual([]);
    expect(byName.get("ok")!.sourceLabels).toEqual(["b=1"]);
    expect(byName.get("ok")!.destLabels).toEqual(["d=1"]);
    // Only the windows inside the range intersect.
    const late = t.rows({ startTimeGte: BigInt(T0 - 60), startTimeLt: BigInt(T0 - 45) });
    expect(new Map(late.map((r) => [r.key.sourceName, r.sourceLabels]))).toEqual(
      new Map([
        ["reset", ["y=1"]],
        ["abc", ["c=1"]],
        ["ok", ["b=1", "c=1"]],
      ]),
    );
  });

  it("keeps ids stable across Lists and rollovers, and gives a returning key a new id", () => {
    const t = testAggregator();
    ingestNamed(t, T0 - 3600, "a");
    ingestNamed(t, T0 - 60, "b");
    expect(t.rows().map((r) => [r.key.sourceName, r.id])).toEqual([
      ["b", 2],
      ["a", 1],
    ]);
    t.advance(W); // a's only window leaves the ring
    expect(t.rows().map((r) => [r.key.sourceName, r.id])).toEqual([["b", 2]]);
    ingestNamed(t, T0, "a");
    expect(t.rows().map((r) => [r.key.sourceName, r.id])).toEqual([
      ["a", 3],
      ["b", 2],
    ]);
  });
});

describe("List: sorting", () => {
  it("defaults to start_time desc, then id desc", () => {
    const t = testAggregator();
    ingestNamed(t, T0 - 60, "k1", "k2");
    ingestNamed(t, T0 - 30, "k3");
    ingestNamed(t, T0 - 3600, "k4");
    ingestNamed(t, T0 - 30, "k4"); // start = min start = T0 − 3600
    ingestNamed(t, T0 - 60, "k5");
    expect(names(t.rows())).toEqual(["k3", "k5", "k2", "k1", "k4"]);
    expect(names(t.rows({ sortBy: [{ sortBy: SortBy.Time }] }))).toEqual(["k3", "k5", "k2", "k1", "k4"]);
  });

  const fields = [
    [SortBy.SourceName, "sourceName"],
    [SortBy.SourceNamespace, "sourceNamespace"],
    [SortBy.DestName, "destName"],
    [SortBy.DestNamespace, "destNamespace"],
  ] as const;

  for (const [sortBy, field] of fields) {
    it(`sorts by ${field} ascending in UTF-8 byte order, then id ascending`, () => {
      const t = testAggregator();
      // Inserted so that neither id order nor start order agrees with the name order.
      const values = ["b", "\u{1F600}", "a", "B", "\uFFFD", "a", "", "ab"];
      values.forEach((v, i) => t.ingest({ key: { [field]: v, destPort: 1000 + i }, startSec: T0 - 60 - i * W }));
      const rows = t.rows({ sortBy: [{ sortBy }] });
      // Byte order: "" < "B" < "a" < "ab" < "b" < U+FFFD (EF BF BD) < U+1F600 (F0 9F 98 80).
      expect(rows.map((r) => r.key[field])).toEqual(["", "B", "a", "a", "ab", "b", "\uFFFD", "\u{1F600}"]);
      expect(rows.map((r) => r.id)).toEqual([7, 4, 3, 6, 8, 1, 5, 2]);
    });
  }

  it("name sorts page like the full list", () => {
    const t = testAggregator();
    for (let i = 0; i < 60; i++) t.ingest({ key: { destName: `d${i % 7}`, destPort: i }, startSec: T0 - 60 - (i % 3) * W });
    const all = t.rows({ sortBy: [{ sortBy: SortBy.DestName }] });
    expect(all).toHaveLength(60);
    const paged: number[] = [];
    for (let p = 0; p < 12; p++) paged.push(...ids(t.rows({ sortBy: [{ sortBy: SortBy.DestName }], page: BigInt(p), pageSize: 5n })));
    expect(paged).toEqual(ids(all));
  });
});

describe("List: paging", () => {
  const seven = () => {
    const t = testAggregator();
    for (let i = 0; i < 7; i++) ingestNamed(t, T0 - 60 - i * W, `k${i}`);
    return t;
  };

  it("slices pages of page_size with exact totals", () => {
    const t = seven();
    const p0 = t.list({ pageSize: 3n });
    const p1 = t.list({ page: 1n, pageSize: 3n });
    const p2 = t.list({ page: 2n, pageSize: 3n });
    expect(names(p0.rows)).toEqual(["k0", "k1", "k2"]);
    expect(names(p1.rows)).toEqual(["k3", "k4", "k5"]);
    expect(names(p2.rows)).toEqual(["k6"]);
    for (const p of [p0, p1, p2]) expect(p.meta).toEqual({ totalPages: 3, totalResults: 7 });
  });

  it("returns an empty page past the end with the totals still correct", () => {
    const t = seven();
    for (const page of [3n, 4n, 1000n]) {
      const ans = t.list({ page, pageSize: 3n });
      expect(ans.rows).toEqual([]);
      expect(ans.meta).toEqual({ totalPages: 3, totalResults: 7 });
    }
    const byName = t.list({ page: 9n, pageSize: 3n, sortBy: [{ sortBy: SortBy.SourceName }] });
    expect(byName.rows).toEqual([]);
    expect(byName.meta).toEqual({ totalPages: 3, totalResults: 7 });
  });

  it("page_size 0 returns everything in one page and ignores page", () => {
    const t = seven();
    for (const page of [0n, 5n]) {
      const ans = t.list({ page, pageSize: 0n });
      expect(ans.rows).toHaveLength(7);
      expect(ans.meta).toEqual({ totalPages: 1, totalResults: 7 });
    }
  });

  it("answers {0, 0} when nothing matches", () => {
    const t = testAggregator();
    expect(t.list().meta).toEqual({ totalPages: 0, totalResults: 0 });
    expect(t.list({ pageSize: 10n }).meta).toEqual({ totalPages: 0, totalResults: 0 });
    ingestNamed(t, T0 - 60, "a");
    expect(t.list({ filter: { sourceNames: [{ value: "b" }] }, pageSize: 10n }).meta).toEqual({ totalPages: 0, totalResults: 0 });
  });

  it("pages are stable and complete over ties in start time", () => {
    const t = testAggregator();
    for (let i = 0; i < 100; i++) ingestNamed(t, T0 - 60 - (i % 4) * W, `k${i}`);
    const all = t.rows();
    expect(all).toHaveLength(100);
    // start desc, then id desc.
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1]!;
      const b = all[i]!;
      expect(a.startSec > b.startSec || (a.startSec === b.startSec && a.id > b.id)).toBe(true);
    }
    for (const size of [1, 3, 7, 10]) {
      const paged: number[] = [];
      for (let p = 0; p * size < 100; p++) {
        const ans = t.list({ page: BigInt(p), pageSize: BigInt(size) });
        expect(ans.meta).toEqual({ totalPages: Math.ceil(100 / size), totalResults: 100 });
        paged.push(...ids(ans.rows));
      }
      expect(paged).toEqual(ids(all));
    }
  });
});

describe("List: aggregation_interval", () => {
  // A is a multiple of 60 (and of 15); T0 = A + 210.
  const A = 1_699_999_800;

  it("returns one row per key per k·W-aligned window that holds data", () => {
    const t = testAggregator();
    for (const s of [A, A + 15, A + 45]) t.ingest({ startSec: s }); // window [A, A + 60)
    t.ingest({ startSec: A + 60, counters: { packetsIn: 10 } }); // window [A + 60, A + 120)
    t.ingest({ startSec: A + 150, counters: { packetsIn: 20 } }); // window [A + 120, A + 180)
    t.ingest({ startSec: A - 3000, counters: { packetsIn: 30 } }); // a lone old window; windows between are empty
    const rows = t.rows({ aggregationInterval: 60n });
    expect(rows.map((r) => [r.startSec, r.endSec, countersOf(r).packetsIn])).toEqual([
      [A + 120, A + 180, 20],
      [A + 60, A + 120, 10],
      [A, A + 60, 3],
      [A - 3000, A - 2940, 30],
    ]);
    expect(countersOf(rows[2]!)).toEqual(scaledCounters(3));
    expect(new Set(ids(rows))).toEqual(new Set([1]));
    expect(t.list({ aggregationInterval: 60n }).meta).toEqual({ totalPages: 1, totalResults: 4 });
    // interval 0: one row per key.
    expect(t.rows({ aggregationInterval: 0n })).toHaveLength(1);
  });

  it("aligns windows to multiples of k·W in Unix time, not to the range", () => {
    const t = testAggregator();
    t.ingest({ startSec: A + 45 });
    t.ingest({ startSec: A + 60 });
    // A range starting mid-window still splits at A + 60.
    const rows = t.rows({ startTimeGte: BigInt(A + 30), startTimeLt: BigInt(A + 120), aggregationInterval: 60n });
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => countersOf(r).packetsIn)).toEqual([1, 1]);
    // The rows stay inside the whole buckets of the range.
    for (const r of rows) {
      expect(r.startSec).toBeGreaterThanOrEqual(A + 30);
      expect(r.endSec).toBeLessThanOrEqual(A + 120);
    }
    expect(rows[0]!.startSec).toBe(A + 60);
    expect(rows[0]!.endSec).toBe(A + 120);
    expect(rows[1]!.endSec).toBe(A + 60);
  });

  it("interval = W gives one row per bucket", () => {
    const t = testAggregator();
    for (const s of [T0 - 60, T0 - 45, T0 - 15]) t.ingest({ startSec: s });
    const rows = t.rows({ aggregationInterval: 15n });
    expect(rows.map((r) => [r.startSec, r.endSec])).toEqual([
      [T0 - 15, T0],
      [T0 - 45, T0 - 30],
      [T0 - 60, T0 - 45],
    ]);
  });

  it("sorts rows start desc then id desc across keys, and pages over rows", () => {
    const t = testAggregator();
    t.ingest({ key: { sourceName: "x" }, startSec: A });
    t.ingest({ key: { sourceName: "y" }, startSec: A + 15 });
    t.ingest({ key: { sourceName: "x" }, startSec: A + 60 });
    t.ingest({ key: { sourceName: "y" }, startSec: A + 75 });
    const rows = t.rows({ aggregationInterval: 60n });
    expect(rows.map((r) => [r.key.sourceName, r.startSec])).toEqual([
      ["y", A + 60],
      ["x", A + 60],
      ["y", A],
      ["x", A],
    ]);
    const p1 = t.list({ aggregationInterval: 60n, page: 1n, pageSize: 3n });
    expect(p1.meta).toEqual({ totalPages: 2, totalResults: 4 });
    expect(p1.rows.map((r) => [r.key.sourceName, r.startSec])).toEqual([["x", A]]);
    // Name sorts keep a key's windows together, newest first.
    expect(t.rows({ aggregationInterval: 60n, sortBy: [{ sortBy: SortBy.SourceName }] }).map((r) => [r.key.sourceName, r.startSec])).toEqual([
      ["x", A + 60],
      ["x", A],
      ["y", A + 60],
      ["y", A],
    ]);
  });

  it("intersects labels per window only", () => {
    const t = testAggregator();
    t.ingest({ startSec: A, sourceLabels: ["a=1"] });
    t.ingest({ startSec: A + 60, sourceLabels: ["b=1"] });
    expect(t.rows({ aggregationInterval: 60n }).map((r) => r.sourceLabels)).toEqual([["b=1"], ["a=1"]]);
    expect(t.rows().map((r) => r.sourceLabels)).toEqual([[]]);
  });
});

describe("List: filters over the wire request", () => {
  const setup = () => {
    const t = testAggregator();
    const s = T0 - 60;
    t.ingest({ key: { sourceName: "pub", destName: "api", proto: "tcp", destPort: 443 }, startSec: s });
    t.ingest({ key: { sourceName: "pvt", destName: "db", destNamespace: "Global", proto: "udp", destPort: 53 }, startSec: s });
    t.ingest({
      key: {
        sourceName: "web-1",
        destName: "api",
        action: Action.Deny,
        reporter: Reporter.Dst,
        enforced: [
          policyHit({
            kind: PolicyKind.EndOfTier,
            name: "",
            namespace: "",
            tier: "app",
            action: Action.Deny,
            ruleIndex: -1,
            trigger: policyHit({ name: "trigger-policy" }),
          }),
        ],
        pending: [policyHit({ kind: PolicyKind.StagedNetworkPolicy, name: "staged", action: Action.Allow })],
      },
      startSec: s,
    });
    return t;
  };
  const sourceNames = (t: TestAggregator, filter: ListRequestInit["filter"]) => names(t.rows({ filter })).sort();

  it("applies every field, AND across fields and OR within one", () => {
    const t = setup();
    expect(sourceNames(t, { sourceNames: [{ value: "PUBLIC NETWORK" }] })).toEqual(["pub"]);
    expect(sourceNames(t, { sourceNames: [{ value: "NETWORK", type: MatchType.Fuzzy }] })).toEqual(["pub", "pvt"]);
    expect(sourceNames(t, { sourceNames: [{ value: "Web", type: MatchType.Fuzzy }] })).toEqual([]);
    expect(sourceNames(t, { destNamespaces: [{ value: "-" }] })).toEqual(["pvt"]);
    expect(sourceNames(t, { sourceNamespaces: [{ value: "default" }] })).toEqual(["pub", "pvt", "web-1"]);
    expect(sourceNames(t, { protocols: [{ value: "udp" }] })).toEqual(["pvt"]);
    expect(sourceNames(t, { destPorts: [{ port: 443n }, { port: 53n }] })).toEqual(["pub", "pvt"]);
    expect(sourceNames(t, { actions: [Action.Deny] })).toEqual(["web-1"]);
    expect(sourceNames(t, { pendingActions: [Action.Allow] })).toEqual(["web-1"]);
    expect(sourceNames(t, { reporter: Reporter.Dst })).toEqual(["web-1"]);
    expect(sourceNames(t, { reporter: Reporter.Src })).toEqual(["pub", "pvt"]);
    expect(sourceNames(t, { destNames: [{ value: "api" }], actions: [Action.Allow] })).toEqual(["pub"]);
    expect(sourceNames(t, { destNames: [{ value: "api" }, { value: "db" }], protocols: [{ value: "tcp" }] })).toEqual(["pub", "web-1"]);
  });

  it("matches policies over enforced and pending hits, ignoring EndOfTier triggers", () => {
    const t = setup();
    expect(sourceNames(t, { policies: [{ name: { value: "staged" } }] })).toEqual(["web-1"]);
    expect(sourceNames(t, { policies: [{ name: { value: "trigger-policy" } }] })).toEqual([]);
    expect(sourceNames(t, { policies: [{ kind: PolicyKind.EndOfTier, tier: { value: "app" } }] })).toEqual(["web-1"]);
    expect(sourceNames(t, { policies: [{ name: { value: "allow-all" } }] })).toEqual(["pub", "pvt"]);
    expect(sourceNames(t, { policies: [{ name: { value: "allow-all" } }, { name: { value: "staged" } }] })).toEqual(["pub", "pvt", "web-1"]);
  });

  it("counts totals after filtering", () => {
    const t = setup();
    expect(t.list({ filter: { destNames: [{ value: "api" }] }, pageSize: 1n }).meta).toEqual({ totalPages: 2, totalResults: 2 });
  });
});

describe("parseListRequest: bad requests are INVALID_ARGUMENT naming the field", () => {
  const ctx: QueryContext = { nowSec: T0, oldestStartSec: T0 - 3600, windowSec: W };
  const fail = (init: ListRequestInit): QueryError => {
    try {
      parseListRequest(listRequest(init), ctx);
    } catch (e) {
      expect(e).toBeInstanceOf(QueryError);
      const ce = toConnectError(e);
      expect(ce).toBeInstanceOf(ConnectError);
      expect((ce as ConnectError).code).toBe(Code.InvalidArgument);
      return e as QueryError;
    }
    throw new Error("expected a QueryError");
  };

  it("gte ≥ lt", () => {
    const e = fail({ startTimeGte: 200n, startTimeLt: 100n });
    expect(e.field).toBe("start_time_gte");
    expect(e.message).toContain("start_time_gte");
    expect(e.message).toContain("startTimeGt (200) must be less than startTimeLt (100)");
    expect(fail({ startTimeGte: BigInt(T0), startTimeLt: 0n }).field).toBe("start_time_gte");
  });

  it("negative page", () => {
    const e = fail({ page: -1n, pageSize: 10n });
    expect(e.field).toBe("page");
    expect(e.message).toMatch(/^page: /);
  });

  it("negative page_size", () => {
    const e = fail({ pageSize: -5n });
    expect(e.field).toBe("page_size");
    expect(e.message).toMatch(/^page_size: /);
  });

  it("sort by DestType or SourceType", () => {
    for (const [by, name] of [
      [SortBy.DestType, "DestType"],
      [SortBy.SourceType, "SourceType"],
    ] as const) {
      const e = fail({ sortBy: [{ sortBy: by }] });
      expect(e.field).toBe("sort_by");
      expect(e.message).toBe(`sort_by: unsupported sort order: ${name}`);
    }
    expect(fail({ sortBy: [{ sortBy: 99 as SortBy }] }).field).toBe("sort_by");
  });

  it("more than one sort option", () => {
    const e = fail({ sortBy: [{ sortBy: SortBy.Time }, { sortBy: SortBy.DestName }] });
    expect(e.message).toBe("sort_by: at most one sort order is supported");
  });

  it("aggregation_interval not a multiple of W", () => {
    for (const v of [7n, 16n, 45n + 1n, -15n]) {
      const e = fail({ aggregationInterval: v });
      expect(e.field).toBe("aggregation_interval");
      expect(e.message).toMatch(/^aggregation_interval: /);
    }
  });

  it("an int64 that a number cannot hold", () => {
    expect(fail({ startTimeGte: 2n ** 60n }).field).toBe("start_time_gte");
    expect(fail({ pageSize: 2n ** 60n }).field).toBe("page_size");
  });

  it("accepts the valid edge values", () => {
    const q = parseListRequest(listRequest({ page: 0n, pageSize: 0n, aggregationInterval: 45n, sortBy: [{ sortBy: SortBy.DestNamespace }] }), ctx);
    expect(q.sort).toBe("destNamespace");
    expect(q.intervalSec).toBe(45);
    expect(q.page).toEqual({ page: 0, pageSize: 0 });
    expect(q.range).toEqual({ gteSec: T0 - 3600, ltSec: T0 });
    expect(parseListRequest(listRequest({ page: 3n }), ctx).page).toEqual({ page: 3, pageSize: 0 });
  });
});

describe("List: a page of most keys (summed in one pass over the windows)", () => {
  // 4 000 keys over 12 buckets, some keys changing label sets between buckets, some with data only
  // outside the range: the unpaged answer (one pass in memory order) must equal the paged one
  // (100 rows a page: each row summed along its key's list).
  const setup = () => {
    const t = testAggregator({ windowSec: W, historyBuckets: 40 }, T0);
    let seed = 42;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let b = 12; b >= 1; b--) {
      for (let k = 0; k < 4000; k++) {
        if (rnd() < 0.4) continue;
        const labels = k % 50 === 0 && rnd() < 0.5 ? [`app=a${k}`, `v=${b % 3}`] : [`app=a${k % 300}`];
        t.ingest({ key: { sourceName: `k${k}`, destPort: 80 + (k % 7) }, startSec: T0 - b * W, sourceLabels: labels, destLabels: k % 3 === 0 ? [] : ["x=y"], counters: { packetsIn: 1 + (k % 13), bytesOut: 1000 * b } });
      }
    }
    return t;
  };

  it("gives the same rows as paging through them, for the whole ring and for a cut range", () => {
    const t = setup();
    for (const range of [{}, { startTimeGte: BigInt(T0 - 8 * W), startTimeLt: BigInt(T0 - 3 * W) }]) {
      const all = t.rows(range);
      expect(all.length).toBeGreaterThan(3000);
      const paged: FlowRow[] = [];
      for (let p = 0; paged.length < all.length; p++) paged.push(...t.rows({ ...range, pageSize: 100n, page: BigInt(p) }));
      expect(all).toEqual(paged);
      // Some rows intersect label sets that changed between buckets.
      expect(all.some((r) => r.sourceLabels.length === 1 && r.sourceLabels[0]!.startsWith("app=a") && Number(r.key.sourceName.slice(1)) % 50 === 0)).toBe(true);
    }
  });
});
