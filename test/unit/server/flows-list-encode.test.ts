import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FlowListResultSchema, ListMetadataSchema } from "../../../src/gen/goldmane/api_pb.js";
import { flowFromUpdate, rowToProto } from "../../../src/model/convert.js";
import type { FlowRow } from "../../../src/model/flow.js";
import { preEncoded } from "../../../src/model/pre-encoded.js";
import { encodeFlowListResult } from "../../../src/server/flows-list-encode.js";
import { prng, randomUpdate } from "../../helpers/random-updates.js";

/** Rows from random (valid) updates: every key field, traces with triggers, unicode, labels. */
function randomRows(rnd: () => number, n: number): FlowRow[] {
  const rows: FlowRow[] = [];
  while (rows.length < n) {
    const r = flowFromUpdate(randomUpdate(rnd));
    if (!r.ok) continue;
    const big = rnd() < 0.1;
    rows.push({
      id: 1 + Math.floor(rnd() * 2 ** (big ? 50 : 20)),
      key: r.flow.key,
      startSec: r.flow.startSec,
      endSec: r.flow.endSec,
      sourceLabels: r.flow.sourceLabels,
      destLabels: rnd() < 0.2 ? [] : r.flow.destLabels,
      counters: Array.from(r.flow.counters, (c) => (c % 2 ** 30) * (big ? 2 ** 20 : 1)),
      // Flow IPs on some rows (issue 13 item 6)
      ...(rnd() < 0.3 ? { sourceIps: ["10.0.0.1", "fd00::ü"], destIps: rnd() < 0.5 ? [] : ["192.0.2.9"] } : {}),
    });
  }
  return rows;
}

const expected = (meta: { totalPages: number; totalResults: number }, rows: FlowRow[]) =>
  toBinary(
    FlowListResultSchema,
    create(FlowListResultSchema, {
      meta: create(ListMetadataSchema, { totalPages: BigInt(meta.totalPages), totalResults: BigInt(meta.totalResults) }),
      flows: rows.map((r) => rowToProto(r)),
    }),
  );

describe("encodeFlowListResult", () => {
  it("writes the bytes protobuf-es writes for the same rows", () => {
    const rnd = prng(1515);
    for (let i = 0; i < 300; i++) {
      const rows = randomRows(rnd, Math.floor(rnd() * 8));
      const meta = { totalPages: Math.floor(rnd() * 3), totalResults: rows.length + Math.floor(rnd() * 1000) };
      const want = expected(meta, rows);
      const got = encodeFlowListResult(meta, rows);
      expect(Buffer.from(got).equals(Buffer.from(want)), `case ${i}`).toBe(true);
      // Handed to protobuf-es as unknown fields, the message serialises to the same bytes.
      expect(Buffer.from(toBinary(FlowListResultSchema, preEncoded(FlowListResultSchema, got))).equals(Buffer.from(want))).toBe(true);
    }
  });

  it("writes the same bytes into a reused buffer holding an earlier answer, behind the room left for framing", () => {
    const rnd = prng(99);
    let buffer: Uint8Array | undefined = new Uint8Array(64 * 1024).fill(0xa5);
    for (let i = 0; i < 50; i++) {
      const rows = randomRows(rnd, Math.floor(rnd() * 40));
      const meta = { totalPages: 1, totalResults: rows.length };
      const got = encodeFlowListResult(meta, rows, { prefixBytes: 5, buffer });
      expect(Buffer.from(got.subarray(5)).equals(Buffer.from(expected(meta, rows))), `case ${i}`).toBe(true);
      buffer = new Uint8Array(got.buffer);
    }
  });

  it("handles long nested messages (length prefixes of several bytes) and empty answers", () => {
    const rnd = prng(7);
    const rows = randomRows(rnd, 50).map((r) => ({ ...r, sourceLabels: Array.from({ length: 300 }, (_, i) => `label-${i}=${"x".repeat(i % 50)}`) }));
    const meta = { totalPages: 1, totalResults: 50 };
    expect(Buffer.from(encodeFlowListResult(meta, rows)).equals(Buffer.from(expected(meta, rows)))).toBe(true);
    const empty = { totalPages: 0, totalResults: 0 };
    expect(Buffer.from(encodeFlowListResult(empty, [])).equals(Buffer.from(expected(empty, [])))).toBe(true);
    expect(fromBinary(FlowListResultSchema, encodeFlowListResult(meta, rows)).flows).toHaveLength(50);
  });
});
