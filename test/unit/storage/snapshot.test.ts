import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createAggregator } from "../../../src/aggregator/aggregator.js";
import { aggregatorMetrics } from "../../../src/aggregator/metrics.js";
import { manualClock } from "../../../src/model/time.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { MATCH_ALL, compileFilter } from "../../../src/query/filter.js";
import { listFlows } from "../../../src/query/list.js";
import { SnapshotError } from "../../../src/storage/snapshot.js";
import { ingestFlow } from "../../helpers/flow-fixtures.js";

const W = 15;
const T = 1_700_003_010;

function make(now: number, windowSec = W) {
  const clock = manualClock(now);
  const agg = createAggregator(
    { windowSec, historyBuckets: 240, maxUniqueFlows: 1000, replayHorizonSec: 330 },
    { clock, log: silentLogger(), metrics: aggregatorMetrics(new Registry()) },
  );
  return { agg, clock };
}

function rows(agg: ReturnType<typeof make>["agg"]) {
  return listFlows(agg.store, {
    range: { gteSec: agg.store.ring.oldestStart, ltSec: agg.store.ring.endSec },
    filter: compileFilter(MATCH_ALL),
    sort: "time",
    page: { page: 0, pageSize: 0 },
    intervalSec: W,
  }).rows;
}

describe("snapshots", () => {
  it("round-trips keys with their ids, windows, labels and policy statistics", () => {
    const a = make(T);
    a.agg.ingest(ingestFlow({ startSec: T - 600, sourceLabels: ["a=1", "b=2"] }), "n1");
    a.agg.ingest(ingestFlow({ startSec: T - 600, sourceLabels: ["a=1"] }), "n2"); // intersects to a=1
    a.agg.ingest(ingestFlow({ startSec: T - 30, key: { destPort: 9 } }), "n1");
    a.agg.ingest(ingestFlow({ startSec: T - 3000, key: { destPort: 10 } }), "n1");
    const before = rows(a.agg);
    const bytes = a.agg.snapshot();

    const b = make(T);
    const summary = b.agg.restore(bytes);
    expect(summary).toMatchObject({ keys: 3, windows: 3, skippedWindows: 0 });
    expect(rows(b.agg)).toEqual(before);
    // Statistics are rebuilt from the restored windows, as if ingested.
    expect(b.agg.policyStats.lineCount).toBe(a.agg.policyStats.lineCount);
    // New keys get ids after the restored ones; ids are never reused.
    b.agg.ingest(ingestFlow({ startSec: T - 30, key: { destPort: 11 } }), "n1");
    expect(Math.max(...rows(b.agg).map((r) => r.id))).toBe(4);
  });

  it("keeps dedup claims, so a replay after the restart is not counted twice", () => {
    const a = make(T);
    const f = ingestFlow({ startSec: T - 60 });
    expect(a.agg.ingest(f, "10.0.0.1")).toBe("stored");
    const b = make(T + 5);
    b.agg.restore(a.agg.snapshot());
    expect(b.agg.ingest(f, "10.0.0.1")).toBe("duplicate");
    expect(b.agg.ingest(f, "10.0.0.2")).toBe("stored");
  });

  it("skips windows that expired while the server was down and drops keys left empty", () => {
    const a = make(T);
    a.agg.ingest(ingestFlow({ startSec: T - 3500 }), "n1");
    a.agg.ingest(ingestFlow({ startSec: T - 60, key: { destPort: 2 } }), "n1");
    const b = make(T + 600); // ten minutes later: the oldest window is gone
    const summary = b.agg.restore(a.agg.snapshot());
    expect(summary).toMatchObject({ keys: 1, windows: 1, skippedWindows: 1 });
    expect(rows(b.agg).map((r) => r.key.destPort)).toEqual([2]);
  });

  it("refuses another window size, another format and truncated files", () => {
    const a = make(T);
    a.agg.ingest(ingestFlow({ startSec: T - 60 }), "n1");
    const bytes = a.agg.snapshot();
    expect(() => make(T, 30).agg.restore(bytes)).toThrow(SnapshotError);
    expect(() => make(T).agg.restore(Buffer.from("hello"))).toThrow(SnapshotError);
    expect(() => make(T).agg.restore(bytes.subarray(0, bytes.length - 20))).toThrow(SnapshotError);
  });
});
