import { describe, expect, it } from "vitest";
import { FlowIps, MAX_FLOW_IPS } from "../../../src/storage/flow-ips.js";

describe("FlowIps", () => {
  it("holds nothing for flows without IPs", () => {
    const f = new FlowIps();
    expect(f.add(1, 0, [], undefined)).toBe(0);
    expect(f.size).toBe(0);
    expect(f.between(1, 0, 1000)).toEqual({ sourceIps: [], destIps: [] });
  });

  it("unions per key and bucket, reads ranges sorted, forgets recycled buckets", () => {
    const f = new FlowIps();
    f.add(1, 0, ["b", "a"], ["x"]);
    f.add(1, 0, ["a", "c"], []);
    f.add(1, 15, ["d"], ["y"]);
    f.add(2, 15, ["z"], []);
    expect(f.between(1, 0, 0)).toEqual({ sourceIps: ["a", "b", "c"], destIps: ["x"] });
    expect(f.between(1, 0, 15)).toEqual({ sourceIps: ["a", "b", "c", "d"], destIps: ["x", "y"] });
    expect(f.between(1, 30, 45)).toEqual({ sourceIps: [], destIps: [] });
    expect(f.records()).toHaveLength(3);
    f.onRecycle(0);
    expect(f.between(1, 0, 15)).toEqual({ sourceIps: ["d"], destIps: ["y"] });
  });

  it("caps each set and reports what it dropped", () => {
    const f = new FlowIps();
    const many = Array.from({ length: MAX_FLOW_IPS + 5 }, (_, i) => `10.0.0.${i}`);
    expect(f.add(1, 0, many, ["a"])).toBe(5);
    expect(f.add(1, 0, ["10.0.0.0", "new"], ["a"])).toBe(1);
    expect(f.between(1, 0, 0).sourceIps).toHaveLength(MAX_FLOW_IPS);
  });
});
