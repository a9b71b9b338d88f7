import { create, toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { MatchType, StringMatchSchema } from "../../../src/gen/goldmane/api_pb.js";
import { stringMatchFromJson, stringMatchFromWire } from "../../../src/server/policy-match-wire.js";

const te = new TextEncoder();
const msg = (value: string, type = MatchType.Exact) => toBinary(StringMatchSchema, create(StringMatchSchema, { value, type }));
const plain = (m: { value: string; type: MatchType }) => ({ value: m.value, type: m.type });
const wire = (b: Uint8Array) => plain(stringMatchFromWire(b, "f"));

describe("stringMatchFromWire: the per-field rule of DESIGN §6d", () => {
  it("empty bytes match everything", () => {
    expect(wire(new Uint8Array(0))).toEqual({ value: "", type: MatchType.Exact });
  });

  it("reads StringMatch messages as protobuf-es encodes them", () => {
    for (const v of ["allow-dns", "", "ü-名前", "x".repeat(300)]) {
      for (const t of [MatchType.Exact, MatchType.Fuzzy]) expect(wire(msg(v, t))).toEqual({ value: v, type: t });
    }
  });

  it("skips unknown fields of a StringMatch (a newer upstream)", () => {
    const b = Uint8Array.from([...msg("a", MatchType.Fuzzy), 0x18, 0x01, 0x22, 0x01, 0x41]);
    expect(wire(b)).toEqual({ value: "a", type: MatchType.Fuzzy });
  });

  it("reads plain strings as exact matches, including ones that parse as other protobuf fields", () => {
    for (const s of ["allow-dns", "default", "kube-system", "a", "tier.with.dots", "ü"]) expect(wire(te.encode(s))).toEqual({ value: s, type: MatchType.Exact });
  });

  it("a string starting with LF that is not a well-formed StringMatch is still a string", () => {
    expect(wire(te.encode("\nabc"))).toEqual({ value: "\nabc", type: MatchType.Exact });
  });

  it("bytes that are neither → INVALID_ARGUMENT naming the field", () => {
    const e = (() => {
      try {
        stringMatchFromWire(Uint8Array.from([0xff, 0x00]), "filter.policies[2].tier");
      } catch (x) {
        return x as ConnectError;
      }
    })();
    expect(e).toBeInstanceOf(ConnectError);
    expect(e?.code).toBe(Code.InvalidArgument);
    expect(e?.rawMessage).toBe("filter.policies[2].tier: neither a StringMatch message nor a UTF-8 string");
  });
});

describe("stringMatchFromJson", () => {
  const json = (v: unknown) => plain(stringMatchFromJson(create(ValueSchema, v === null ? { kind: { case: "nullValue", value: 0 } } : (undefined as never)), "f"));
  it("null and absent mean any; a string is exact", () => {
    expect(json(null)).toEqual({ value: "", type: MatchType.Exact });
    expect(plain(stringMatchFromJson(undefined, "f"))).toEqual({ value: "", type: MatchType.Exact });
    expect(plain(stringMatchFromJson(create(ValueSchema, { kind: { case: "stringValue", value: "x" } }), "f"))).toEqual({ value: "x", type: MatchType.Exact });
  });
});
