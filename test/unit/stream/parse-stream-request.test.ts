import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FlowStreamRequestSchema, MatchType, type FlowStreamRequest } from "../../../src/gen/goldmane/api_pb.js";
import { QueryError } from "../../../src/query/errors.js";
import { parseStreamRequest } from "../../../src/server/flows-stream.js";
import { flowKey } from "../../helpers/flow-fixtures.js";

const ctx = { nowSec: 1_700_000_017.8, oldestStartSec: 1_699_996_410, windowSec: 15 };
const req = (init: Parameters<typeof create<typeof FlowStreamRequestSchema>>[1] = {}): FlowStreamRequest =>
  create(FlowStreamRequestSchema, init);

describe("parseStreamRequest", () => {
  it("start_time_gte: 0 = no backfill, positive = absolute, negative = relative to now (whole seconds)", () => {
    expect(parseStreamRequest(req(), ctx).startSec).toBeNull();
    expect(parseStreamRequest(req({ startTimeGte: 1_699_999_000n }), ctx).startSec).toBe(1_699_999_000);
    expect(parseStreamRequest(req({ startTimeGte: -60n }), ctx).startSec).toBe(1_700_000_017 - 60);
  });

  it("aggregation_interval: 0 or W, anything else INVALID_ARGUMENT naming the field", () => {
    expect(() => parseStreamRequest(req({ aggregationInterval: 0n }), ctx)).not.toThrow();
    expect(() => parseStreamRequest(req({ aggregationInterval: 15n }), ctx)).not.toThrow();
    for (const bad of [30n, 7n, -15n]) {
      expect(() => parseStreamRequest(req({ aggregationInterval: bad }), ctx)).toThrow(QueryError);
      expect(() => parseStreamRequest(req({ aggregationInterval: bad }), ctx)).toThrow(
        `aggregation_interval: must be 0 or the aggregation window (15s), got ${bad}`,
      );
    }
  });

  it("compiles the filter with the List rules", () => {
    const { filter } = parseStreamRequest(req({ filter: { destNames: [{ value: "server", type: MatchType.Fuzzy }] } }), ctx);
    expect(filter(flowKey({ destName: "server-*" }))).toBe(true);
    expect(filter(flowKey({ destName: "db" }))).toBe(false);
  });
});
