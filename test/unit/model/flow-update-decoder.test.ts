import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { FlowUpdateSchema } from "../../../src/gen/goldmane/api_pb.js";
import { prng, randomUpdate } from "../../helpers/random-updates.js";
import { flowFromUpdate } from "../../../src/model/convert.js";
import { DecodeError, decodeFlowUpdate } from "../../../src/model/flow-update-decoder.js";

describe("decodeFlowUpdate", () => {
  it("agrees with protobuf-es + flowFromUpdate on 5000 generated updates", () => {
    const rnd = prng(42);
    const reasons = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const u = randomUpdate(rnd);
      const bytes = toBinary(FlowUpdateSchema, u);
      const expected = flowFromUpdate(fromBinary(FlowUpdateSchema, bytes));
      const actual = decodeFlowUpdate(bytes);
      expect(actual, `case ${i}`).toEqual(expected);
      reasons.add(expected.ok ? "ok" : expected.reason);
    }
    // The generator must reach every outcome, or the comparison proves little.
    expect([...reasons].sort()).toEqual(
      ["counter_too_large", "end_of_tier_without_trigger", "invalid_number", "missing_flow", "missing_key", "negative_counter", "ok"].sort(),
    );
  });

  it("decodes a slice of a larger buffer", () => {
    const bytes = toBinary(FlowUpdateSchema, randomUpdate(prng(7)));
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    expect(decodeFlowUpdate(padded, 5, 5 + bytes.length)).toEqual(decodeFlowUpdate(bytes));
  });

  it("merges a repeated message field and lets the last scalar win, like protobuf-es", () => {
    // FlowUpdate{ flow{Key{source_name:"a"}, start_time:5}, flow{Key{dest_name:"b"}, start_time:7} }
    const w = new BinaryWriter();
    w.tag(1, 2).fork().tag(1, 2).fork().tag(1, 2).string("a").join().tag(2, 0).int64(5).join();
    w.tag(1, 2).fork().tag(1, 2).fork().tag(4, 2).string("b").join().tag(2, 0).int64(7).join();
    w.tag(99, 2).bytes(new Uint8Array([1, 2, 3])); // unknown field
    const bytes = w.finish();
    const expected = flowFromUpdate(fromBinary(FlowUpdateSchema, bytes));
    expect(decodeFlowUpdate(bytes)).toEqual(expected);
    expect(expected.ok && expected.flow.key.sourceName === "a" && expected.flow.key.destName === "b" && expected.flow.startSec === 7).toBe(true);
  });

  it("rejects invalid encodings with DecodeError", () => {
    expect(() => decodeFlowUpdate(new Uint8Array([0x0a, 0x05, 0x01]))).toThrow(DecodeError); // length beyond end
    expect(() => decodeFlowUpdate(new Uint8Array([0x08, 0xff, 0xff]))).toThrow(DecodeError); // truncated varint
    expect(() => decodeFlowUpdate(new Uint8Array([0x0f]))).toThrow(DecodeError); // wire type 7
  });
});
