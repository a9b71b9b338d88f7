import { toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createAggregator } from "../../../src/aggregator/aggregator.js";
import { aggregatorMetrics } from "../../../src/aggregator/metrics.js";
import { FlowUpdateSchema } from "../../../src/gen/goldmane/api_pb.js";
import { flowFromUpdate } from "../../../src/model/convert.js";
import { manualClock } from "../../../src/model/time.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { listFlows } from "../../../src/query/list.js";
import { MATCH_ALL, compileFilter } from "../../../src/query/filter.js";
import { prng, randomUpdate } from "../../helpers/random-updates.js";
import { wireUpdate } from "../../helpers/wire-flows.js";

const NOW = 1_700_003_000;

function makeAggregator() {
  const clock = manualClock(NOW);
  return createAggregator(
    { windowSec: 15, historyBuckets: 240, maxUniqueFlows: 100_000, replayHorizonSec: 330 },
    { clock, log: silentLogger(), metrics: aggregatorMetrics(new Registry()) },
  );
}

function snapshot(agg: ReturnType<typeof makeAggregator>) {
  const all = listFlows(agg.store, {
    range: { gteSec: agg.store.ring.oldestStart, ltSec: agg.store.ring.endSec },
    filter: compileFilter(MATCH_ALL),
    sort: "time",
    page: { page: 0, pageSize: 0 },
    intervalSec: 15,
  });
  return all;
}

describe("ingestEncoded (fast-lane path)", () => {
  it("stores exactly what the decode-then-ingest path stores, with the same outcomes", () => {
    const viaModel = makeAggregator();
    const viaBytes = makeAggregator();
    const rnd = prng(3);
    for (let i = 0; i < 3000; i++) {
      const u = randomUpdate(rnd);
      // Keep most flows inside the ring so they are stored.
      if (u.flow && rnd() < 0.9) u.flow.startTime = BigInt(NOW - Math.floor(rnd() * 3000));
      const node = `10.0.0.${i % 3}`;
      const bytes = toBinary(FlowUpdateSchema, u);
      // Send some twice: duplicates must be recognised on both paths.
      for (const _ of rnd() < 0.2 ? [0, 1] : [0]) {
        const c = flowFromUpdate(u);
        const a = c.ok ? viaModel.ingest(c.flow, node) : (viaModel.reject(c.reason, node), c.reason);
        const b = viaBytes.ingestEncoded(bytes, 0, bytes.length, node);
        expect(b, `update ${i}`).toBe(a);
      }
    }
    expect(snapshot(viaBytes)).toEqual(snapshot(viaModel));
  });

  it("maps different encodings of one key to the same key", () => {
    const agg = makeAggregator();
    const u = wireUpdate(NOW - 60);
    const plain = toBinary(FlowUpdateSchema, u);
    // The same update with an unknown field appended inside the FlowKey: other bytes, same key.
    // Written by hand, with an unknown field (77) inside the FlowKey and another end_time.
    const w = new BinaryWriter();
    w.tag(1, 2).fork();
    const inner = new BinaryWriter();
    inner.tag(1, 2).fork().tag(1, 2).string("client-*").tag(2, 2).string("default").tag(3, 0).int32(1).tag(4, 2).string("server-*").tag(5, 2).string("default").tag(6, 0).int32(1).tag(7, 0).int64(8080).tag(12, 2).string("tcp").tag(13, 0).int32(1).tag(14, 0).int32(1);
    inner.tag(15, 2).fork().tag(1, 2).fork().tag(1, 0).int32(1).tag(2, 2).string("default").tag(3, 2).string("allow-all").tag(4, 2).string("default").tag(5, 0).int32(1).join().join();
    inner.tag(77, 2).string("unknown field").join();
    inner.tag(2, 0).int64(NOW - 60).tag(3, 0).int64(NOW - 59).tag(4, 2).string("app=client").tag(5, 2).string("app=server").tag(6, 0).int64(5);
    w.raw(inner.finish()).join();
    const odd = w.finish();
    expect(agg.ingestEncoded(plain, 0, plain.length, "n1")).toBe("stored");
    expect(agg.ingestEncoded(odd, 0, odd.length, "n1")).toBe("stored");
    const rows = snapshot(agg).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.counters[0]).toBe(6);
  });

  it("does not reuse a remembered encoding whose label set died while its key lived on", () => {
    // A ring of 4 buckets. The key is reported with labels app=old, then with app=new a minute
    // later; once the first bucket leaves the ring, app=old has no reference left and is
    // forgotten, but the key lives on in the newer bucket. The memo still holds the first
    // encoding (same key and labels: the signature leaves the times out) pointing at that dead
    // set: sending it again must intern app=old anew, not store the row with a dead label set.
    const clock = manualClock(NOW);
    const agg = createAggregator(
      { windowSec: 15, historyBuckets: 4, maxUniqueFlows: 1000, replayHorizonSec: 30 },
      { clock, log: silentLogger(), metrics: aggregatorMetrics(new Registry()) },
    );
    const encode = (startSec: number, label: string) => toBinary(FlowUpdateSchema, wireUpdate(startSec, {}, { endTime: BigInt(startSec + 1), sourceLabels: [label] }));
    const first = encode(NOW - 5, "app=old");
    expect(agg.ingestEncoded(first, 0, first.length, "n1")).toBe("stored");
    clock.advance(60);
    agg.tick();
    const second = encode(clock.nowSec() - 5, "app=new");
    expect(agg.ingestEncoded(second, 0, second.length, "n1")).toBe("stored");
    clock.advance(30);
    agg.tick();
    expect(agg.store.ring.oldestStart).toBeGreaterThan(NOW - 5);
    const again = encode(clock.nowSec() - 5, "app=old");
    expect(agg.ingestEncoded(again, 0, again.length, "n1")).toBe("stored");
    const labels = snapshot(agg).rows.map((r) => [...r.sourceLabels].join(",")).sort();
    expect(labels).toEqual(["app=new", "app=old"]);
  });
});
