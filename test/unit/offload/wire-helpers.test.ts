import { describe, expect, it } from "vitest";
import {
  ipv4FromWire,
  ipv4ToWire,
  ipv4WireToBytes,
  ipv6FromBytes,
  ipv6ToBytes,
  isZeroSessionId,
  numericIdToUuid,
  parseSessionId,
  uuidToNumericId,
  UINT64_MAX,
} from "../../../src/offload/index.js";

describe("session ids (reference offload-frostfs.md §2.9)", () => {
  it("maps a base-10 integer to itself, canonicalising leading zeros", () => {
    expect(parseSessionId("1001")).toEqual({ key: "1001", numeric: 1001n, form: "decimal" });
    expect(parseSessionId("0001001")?.key).toBe("1001");
    expect(uuidToNumericId("0")).toBe(0n);
    expect(uuidToNumericId("18446744073709551615")).toBe(UINT64_MAX);
  });

  it("rejects integers beyond uint64 and non-UUID text", () => {
    expect(parseSessionId("18446744073709551616")).toBeUndefined();
    expect(parseSessionId("")).toBeUndefined();
    expect(parseSessionId("session-1")).toBeUndefined();
    expect(parseSessionId("-5")).toBeUndefined();
    expect(parseSessionId(" 5")).toBeUndefined();
  });

  it("maps a UUID to its low 64 bits, in any accepted spelling", () => {
    const low = 0x8a2e0370733403e9n;
    for (const text of [
      "9b2e1c4d-0f3a-4b5c-8a2e-0370733403e9",
      "9B2E1C4D-0F3A-4B5C-8A2E-0370733403E9",
      "9b2e1c4d0f3a4b5c8a2e0370733403e9",
      "{9b2e1c4d-0f3a-4b5c-8a2e-0370733403e9}",
      "urn:uuid:9b2e1c4d-0f3a-4b5c-8a2e-0370733403e9",
    ]) {
      const p = parseSessionId(text);
      expect(p?.numeric, text).toBe(low);
      expect(p?.key).toBe("9b2e1c4d-0f3a-4b5c-8a2e-0370733403e9");
    }
    expect(uuidToNumericId("00000000-0000-0000-0000-0000000003e9")).toBe(1001n);
  });

  it("round-trips numeric ids through their Uuid text", () => {
    for (const n of [0n, 1n, 1001n, 12345678910n, UINT64_MAX]) expect(uuidToNumericId(numericIdToUuid(n))).toBe(n);
    expect(() => numericIdToUuid(-1n)).toThrow(RangeError);
  });

  it("knows which ids mean 'all sessions'", () => {
    expect(isZeroSessionId("")).toBe(true);
    expect(isZeroSessionId("0")).toBe(true);
    expect(isZeroSessionId("00000000-0000-0000-0000-000000000000")).toBe(true);
    expect(isZeroSessionId("1")).toBe(false);
    expect(isZeroSessionId("00000000-0000-0000-0000-000000000001")).toBe(false);
  });
});

describe("IPv4 byte order (reference §2.8)", () => {
  it("packs inet_pton bytes little-endian by default, as the reference clients do", () => {
    expect(ipv4ToWire("10.0.0.1")).toBe(16777226);
    expect(ipv4ToWire("12.2.3.4")).toBe(67305996);
    expect(ipv4ToWire("255.255.255.255")).toBe(0xffffffff);
    expect(ipv4FromWire(0x0100000a)).toBe("10.0.0.1");
    expect(Array.from(ipv4WireToBytes(67305996))).toEqual([12, 2, 3, 4]);
  });

  it("offers the big-endian reading for devices that use it", () => {
    expect(ipv4ToWire("10.0.0.1", "be")).toBe(167772161);
    expect(ipv4FromWire(167772161, "be")).toBe("10.0.0.1");
    expect(ipv4FromWire(ipv4ToWire("192.168.0.1", "be"), "be")).toBe("192.168.0.1");
  });

  it("rejects malformed addresses", () => {
    for (const bad of ["10.0.0", "10.0.0.256", "a.b.c.d", "10.0.0.1.2", ""]) expect(() => ipv4ToWire(bad), bad).toThrow(RangeError);
  });
});

describe("IPv6 as 16 bytes", () => {
  it("parses and prints RFC 5952 text", () => {
    const cases: Array<[string, string]> = [
      ["2001:db8:85a3::8a2e:370:7332", "2001:db8:85a3::8a2e:370:7332"],
      ["3ffe::1:200:f8ff:fe75:50df", "3ffe::1:200:f8ff:fe75:50df"],
      ["2::ffff:fe76:50de", "2::ffff:fe76:50de"],
      ["::", "::"],
      ["::1", "::1"],
      ["fe80::", "fe80::"],
      ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::ffff:10.0.0.1", "::ffff:a00:1"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ];
    for (const [input, text] of cases) {
      const bytes = ipv6ToBytes(input);
      expect(bytes.length).toBe(16);
      expect(ipv6FromBytes(bytes), input).toBe(text);
    }
    expect(Array.from(ipv6ToBytes("::1"))).toEqual([...new Array<number>(15).fill(0), 1]);
  });

  it("rejects malformed addresses", () => {
    for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "g::", "1:2:3:4:5:6:7::8"]) {
      expect(() => ipv6ToBytes(bad), bad).toThrow(RangeError);
    }
    expect(() => ipv6FromBytes(new Uint8Array(4))).toThrow(RangeError);
  });
});
