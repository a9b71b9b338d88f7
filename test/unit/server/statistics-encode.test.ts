import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StatisticsResultSchema } from "../../../src/gen/goldmane/api_pb.js";
import { preEncoded } from "../../../src/model/pre-encoded.js";
import { seriesRow, type StatisticsSeries } from "../../../src/query/statistics.js";
import { encodeStatisticsResult, encodeStatisticsSeries } from "../../../src/server/statistics-encode.js";
import { statisticsResult } from "../../../src/server/statistics-service.js";
import { prng } from "../../helpers/random-updates.js";

/** A series as the query builds it: interleaved values, arrays longer than the points (growth slack). */
function randomSeries(rnd: () => number): StatisticsSeries {
  const n = 1 + Math.floor(rnd() * 300);
  const slack = Math.floor(rnd() * 5);
  const values = new Float64Array(6 * (n + slack)).map(() => (rnd() < 0.4 ? 0 : Math.floor(rnd() * 2 ** (rnd() < 0.05 ? 52 : rnd() < 0.5 ? 30 : 12))));
  const x = rnd() < 0.5 ? new Float64Array(n + slack).map((_, i) => 1_700_000_000 + 15 * i) : null;
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  return {
    kind: pick([0, 1, 2, 6, 9, 11]),
    namespace: pick(["", "default", "ü-ns"]),
    name: pick(["", "allow-all", "🚀"]),
    tier: pick(["", "default", "security"]),
    action: pick([0, 1, 2, 3]),
    ruleIndex: pick([0, 1, 7, -1]),
    direction: pick([0, 1, 2]),
    groupBy: pick([0, 1]),
    type: pick([0, 1, 2]),
    length: n,
    values,
    x,
  };
}

describe("encodeStatisticsSeries", () => {
  it("writes the bytes protobuf-es writes for the same result, reading only the series' points", () => {
    const rnd = prng(15);
    for (let i = 0; i < 500; i++) {
      const s = randomSeries(rnd);
      const row = seriesRow(s);
      expect(row.allowedIn).toHaveLength(s.length);
      const expected = toBinary(StatisticsResultSchema, statisticsResult(row));
      const bytes = encodeStatisticsSeries(s);
      expect(Buffer.from(bytes).equals(Buffer.from(expected)), `series ${i}`).toBe(true);
      expect(Buffer.from(bytes).equals(Buffer.from(encodeStatisticsResult(row)))).toBe(true);
      expect(Buffer.from(toBinary(StatisticsResultSchema, preEncoded(StatisticsResultSchema, bytes))).equals(Buffer.from(expected))).toBe(true);
      expect(fromBinary(StatisticsResultSchema, bytes).allowedIn.map(Number)).toEqual(row.allowedIn);
    }
  });
});
