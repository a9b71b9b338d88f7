import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StatisticsResultSchema } from "../../../src/gen/goldmane/api_pb.js";
import { preEncoded, wantsBinary, WireWriter } from "../../../src/model/pre-encoded.js";
import type { StatisticsRow } from "../../../src/query/statistics.js";
import { encodeStatisticsResult } from "../../../src/server/statistics-encode.js";
import { statisticsResult } from "../../../src/server/statistics-service.js";
import { prng } from "../../helpers/random-updates.js";

function randomRow(rnd: () => number): StatisticsRow {
  const n = 1 + Math.floor(rnd() * 5);
  const series = () => Array.from({ length: n }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 2 ** (rnd() < 0.1 ? 52 : 20))));
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  return {
    kind: pick([0, 1, 2, 6, 9, 10, 11]),
    namespace: pick(["", "default", "ü-ns"]),
    name: pick(["", "allow-all", "🚀"]),
    tier: pick(["", "default", "security"]),
    action: pick([0, 1, 2, 3]),
    ruleIndex: pick([0, 1, 7, -1, -5]),
    direction: pick([0, 1, 2]),
    groupBy: pick([0, 1]),
    type: pick([0, 1, 2]),
    allowedIn: series(),
    allowedOut: series(),
    deniedIn: series(),
    deniedOut: series(),
    passedIn: series(),
    passedOut: series(),
    x: rnd() < 0.5 ? Array.from({ length: n }, (_, i) => 1_700_000_000 + 15 * i) : undefined,
  } as StatisticsRow;
}

describe("pre-encoded results", () => {
  it("encode StatisticsResult byte for byte like protobuf-es", () => {
    const rnd = prng(9);
    for (let i = 0; i < 2000; i++) {
      const row = randomRow(rnd);
      const expected = toBinary(StatisticsResultSchema, statisticsResult(row));
      const bytes = encodeStatisticsResult(row);
      expect(Buffer.from(bytes).equals(Buffer.from(expected)), `row ${i}`).toBe(true);
      // Handed to protobuf-es as unknown fields, the message serialises to the same bytes.
      expect(Buffer.from(toBinary(StatisticsResultSchema, preEncoded(StatisticsResultSchema, bytes))).equals(Buffer.from(expected))).toBe(true);
      expect(fromBinary(StatisticsResultSchema, bytes)).toEqual(statisticsResult(row));
    }
  });

  it("writes negative int64 as ten-byte two's complement varints", () => {
    expect([...new WireWriter().int64(-1).finish()]).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 255, 1]);
    expect([...new WireWriter().uvarint(300).finish()]).toEqual([0xac, 0x02]);
  });

  it("stringFast writes what stringField / utf8Element write (ASCII fast path, UTF-8 fallback, omitted \"\")", () => {
    const strings = ["", "a", "team-3", "x".repeat(127), "y".repeat(128), "z".repeat(300), "ü", "abc-ü", "🚀 rocket", "tail\u007f", "ns\u0080"];
    const utf8 = (s: string) => Buffer.from(s, "utf8");
    for (const field of [1, 4, 15]) {
      for (const s of strings) {
        // Written after other bytes, so a fallback must not leave the fast path's partial copy behind.
        const got = new WireWriter(4).uvarint(1).stringFast(field, s, false, utf8).stringFast(field, s, true, utf8).finish();
        const want = new WireWriter().uvarint(1).stringField(field, s).utf8Element(field, utf8(s)).finish();
        expect([...got], `field ${field} ${JSON.stringify(s)}`).toEqual([...want]);
      }
    }
  });

  it("tells binary codecs from JSON", () => {
    for (const ct of ["application/grpc", "application/grpc+proto", "application/grpc-web+proto", "application/connect+proto", "application/proto"]) expect(wantsBinary(ct)).toBe(true);
    for (const ct of ["application/grpc+json", "application/grpc-web+json", "application/connect+json", "application/json"]) expect(wantsBinary(ct)).toBe(false);
  });
});
