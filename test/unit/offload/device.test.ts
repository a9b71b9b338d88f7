import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Action, createOffloadDevice, ipv4ToWire, manualClock, resolveSimConfig, type SessionSpec } from "../../../src/offload/index.js";

const EMPTY = new Uint8Array(0);
const spec = (id: string, port: number): SessionSpec => ({
  id,
  inLif: 1,
  outLif: 2,
  ipVersion: 0,
  sourceIp: ipv4ToWire("10.0.0.1"),
  sourceIpV6: EMPTY,
  sourcePort: port,
  destinationIp: ipv4ToWire("10.1.0.3"),
  destinationIpV6: EMPTY,
  destinationPort: 80,
  protocol: 6,
  action: { type: Action.FORWARD, nextHop: 0, nextHopV6: EMPTY, proxySrcV4: 0, proxyDstV4: 0, proxySrcV6: EMPTY, proxyDstV6: EMPTY, srcConnId: EMPTY, dstConnId: EMPTY },
  cacheTimeoutSec: 0,
  srcConnId: EMPTY,
  dstConnId: EMPTY,
});

async function values(registry: Registry, name: string): Promise<Record<string, number>> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const out: Record<string, number> = {};
  for (const v of (m?.values ?? []) as Array<{ labels: Record<string, string>; value: number }>) {
    out[Object.values(v.labels).join(",") || "_"] = v.value;
  }
  return out;
}

describe("OffloadDevice metrics and logs", () => {
  it("counts sessions by state, rejections by reason, closes, drains and deletes; logs rejections", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const log = pino({ level: "info" }, sink);
    const registry = new Registry();
    const clock = manualClock(1_700_000_000);
    const device = createOffloadDevice(resolveSimConfig({ capacity: 5, seed: 1, traffic: { finPerSec: 0, rstPerSec: 1, idlePerSec: 0 } }), { clock, registry, log });

    device.addSessions([spec("1", 1), spec("2", 2), spec("", 3), spec("1", 4), spec("5", 2)], "v1");
    device.addSessions([spec("6", 6), spec("7", 7), spec("8", 8), spec("9", 9)], "opi");
    expect(await values(registry, "tributary_offload_sim_added_sessions_total")).toEqual({ v1: 2, opi: 0 });
    expect(await values(registry, "tributary_offload_sim_rejected_sessions_total")).toEqual({ invalid: 1, duplicate_id: 1, duplicate_tuple: 1, table_full: 4 });
    expect((await values(registry, "tributary_offload_sim_sessions")).established).toBe(2);
    expect(await values(registry, "tributary_offload_sim_capacity_sessions")).toEqual({ _: 5 });

    clock.advance(1);
    device.sync();
    expect(await values(registry, "tributary_offload_sim_closed_sessions_total")).toEqual({ rst: 2 });
    expect(await values(registry, "tributary_offload_sim_sessions")).toMatchObject({ established: 0, closed: 2 });
    expect(device.drainClosed(1)).toHaveLength(1);
    device.delete(2n);
    expect(() => device.get(2n)).toThrow(/not found/);
    expect(await values(registry, "tributary_offload_sim_drained_sessions_total")).toEqual({ _: 1 });
    expect(await values(registry, "tributary_offload_sim_deleted_sessions_total")).toEqual({ _: 1 });
    expect(await values(registry, "tributary_offload_sim_lookup_errors_total")).toEqual({ not_found: 1 });
    expect(await values(registry, "tributary_offload_sim_sessions")).toMatchObject({ closed: 0 });

    const rejected = lines.filter((l) => l.msg === "sessions rejected");
    expect(rejected.map((l) => [l.dialect, l.reason, l.failed])).toEqual([
      ["v1", "invalid", 3],
      ["opi", "table_full", 4],
    ]);
  });
});
