/**
 * Flow fixtures for unit tests: builders for the internal IngestFlow / FlowKeyModel / PolicyHitModel
 * shapes and for wire FlowUpdate / FlowListRequest messages, with one set of defaults so that
 * `flowFromUpdate(flowUpdate(x))` and `ingestFlow(x)` describe the same flow, plus a harness around
 * the real aggregator driven by a manual clock (STYLE.md §8: time is a parameter, no sleeping).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import {
  FlowKeySchema,
  FlowListRequestSchema,
  FlowSchema,
  PolicyHitSchema,
  FlowUpdateSchema,
  type FlowListRequest,
  type FlowUpdate,
} from "../../src/gen/goldmane/api_pb.js";
import { createAggregator, type Aggregator, type AggregatorConfig } from "../../src/aggregator/aggregator.js";
import { aggregatorMetrics } from "../../src/aggregator/metrics.js";
import { COUNTER_NAMES, type FlowKeyModel, type FlowRow, type IngestFlow, type PolicyHitModel } from "../../src/model/flow.js";
import { manualClock, type ManualClock } from "../../src/model/time.js";
import { silentLogger } from "../../src/observability/logger.js";
import { listFlows, type ListAnswer } from "../../src/query/list.js";
import { parseListRequest, type QueryContext } from "../../src/server/parse-request.js";
import type { AddOutcome } from "../../src/storage/flow-store.js";

/** A fixed "now" for tests: a multiple of 15 (and of 1), so it is a bucket start for W = 15. */
export const T0 = 1_700_000_010;

export type CounterName = (typeof COUNTER_NAMES)[number];
/** Counters by name; absent ones take {@link DEFAULT_COUNTERS}. */
export type CounterInit = Partial<Record<CounterName, number>>;

/** Default counters of every fixture flow (all distinct, so sums show which counter went where). */
export const DEFAULT_COUNTERS: Readonly<Record<CounterName, number>> = Object.freeze({
  packetsIn: 1,
  packetsOut: 2,
  bytesIn: 100,
  bytesOut: 200,
  numConnectionsStarted: 3,
  numConnectionsCompleted: 4,
  numConnectionsLive: 5,
});

/** The seven counters as an array in COUNTER_NAMES order. */
export function counterArray(c: CounterInit = {}): number[] {
  return COUNTER_NAMES.map((n) => c[n] ?? DEFAULT_COUNTERS[n]);
}

/** Counters of a row (or any ArrayLike) as a name → value record, for readable assertions. */
export function countersOf(row: { counters: ArrayLike<number> }): Record<CounterName, number> {
  const out = {} as Record<CounterName, number>;
  COUNTER_NAMES.forEach((n, i) => {
    out[n] = row.counters[i]!;
  });
  return out;
}

/** Every counter multiplied by `k` (the sum of k default flows). */
export function scaledCounters(k: number, c: CounterInit = {}): Record<CounterName, number> {
  const out = {} as Record<CounterName, number>;
  for (const n of COUNTER_NAMES) out[n] = k * (c[n] ?? DEFAULT_COUNTERS[n]);
  return out;
}

/** A policy hit: an allowing Calico NetworkPolicy rule in tier "default" unless overridden. */
export function policyHit(o: Partial<PolicyHitModel> = {}): PolicyHitModel {
  return {
    kind: 1, // CalicoNetworkPolicy
    namespace: "default",
    name: "allow-all",
    tier: "default",
    action: 1, // Allow
    policyIndex: 0,
    ruleIndex: 0,
    trigger: null,
    ...o,
  };
}

/** A flow key: client → server:8080/tcp in "default", reported by the source, allowed. */
export function flowKey(o: Partial<FlowKeyModel> = {}): FlowKeyModel {
  return {
    sourceName: "client-*",
    sourceNamespace: "default",
    sourceType: 1, // WorkloadEndpoint
    destName: "server-*",
    destNamespace: "default",
    destType: 1,
    destPort: 8080,
    destServiceName: "",
    destServiceNamespace: "",
    destServicePortName: "",
    destServicePort: 0,
    proto: "tcp",
    reporter: 1, // Src
    action: 1, // Allow
    enforced: [policyHit()],
    pending: [],
    ...o,
  };
}

/** Overrides for {@link ingestFlow}. */
export interface IngestFlowInit {
  key?: Partial<FlowKeyModel>;
  /** Default: T0 − 60 (a complete bucket well inside a ring created at T0). */
  startSec?: number;
  /** Default: startSec (Felix sends end == start). */
  endSec?: number;
  sourceLabels?: string[];
  destLabels?: string[];
  counters?: CounterInit;
}

/** A validated internal flow, as ingest hands it to the aggregator. */
export function ingestFlow(init: IngestFlowInit = {}): IngestFlow {
  const startSec = init.startSec ?? T0 - 60;
  return {
    key: flowKey(init.key),
    startSec,
    endSec: init.endSec ?? startSec,
    sourceLabels: init.sourceLabels ?? ["app=client"],
    destLabels: init.destLabels ?? ["app=server"],
    counters: counterArray(init.counters),
  };
}

/** The plain-object form of a message init (not an already-built message). */
type PlainInit<T> = Exclude<T, { $typeName: string }>;
type FlowInit = PlainInit<MessageInitShape<typeof FlowSchema>>;
type KeyInit = PlainInit<MessageInitShape<typeof FlowKeySchema>>;
type HitInit = PlainInit<MessageInitShape<typeof PolicyHitSchema>>;

/** A wire PolicyHit init with the same defaults as {@link policyHit}. */
export function protoHit(o: Partial<HitInit> = {}): HitInit {
  return { kind: 1, namespace: "default", name: "allow-all", tier: "default", action: 1, policyIndex: 0n, ruleIndex: 0n, ...o };
}

/** Overrides for {@link flowUpdate}: `key` patches the FlowKey, `flow` patches the Flow (`Key: undefined` removes it). */
export interface FlowUpdateInit {
  startSec?: number;
  key?: Partial<KeyInit>;
  flow?: Partial<FlowInit>;
}

/** A wire FlowUpdate describing the same flow as {@link ingestFlow} with the same start. */
export function flowUpdate(init: FlowUpdateInit = {}): FlowUpdate {
  const startSec = init.startSec ?? T0 - 60;
  const c = DEFAULT_COUNTERS;
  return create(FlowUpdateSchema, {
    flow: {
      Key: {
        sourceName: "client-*",
        sourceNamespace: "default",
        sourceType: 1,
        destName: "server-*",
        destNamespace: "default",
        destType: 1,
        destPort: 8080n,
        proto: "tcp",
        reporter: 1,
        action: 1,
        policies: { enforcedPolicies: [protoHit()] },
        ...init.key,
      },
      startTime: BigInt(startSec),
      endTime: BigInt(startSec),
      sourceLabels: ["app=client"],
      destLabels: ["app=server"],
      packetsIn: BigInt(c.packetsIn),
      packetsOut: BigInt(c.packetsOut),
      bytesIn: BigInt(c.bytesIn),
      bytesOut: BigInt(c.bytesOut),
      numConnectionsStarted: BigInt(c.numConnectionsStarted),
      numConnectionsCompleted: BigInt(c.numConnectionsCompleted),
      numConnectionsLive: BigInt(c.numConnectionsLive),
      ...init.flow,
    },
  });
}

export type ListRequestInit = MessageInitShape<typeof FlowListRequestSchema>;

/** A wire FlowListRequest (everything defaults to zero / empty, as on the wire). */
export function listRequest(init: ListRequestInit = {}): FlowListRequest {
  return create(FlowListRequestSchema, init);
}

/** Default aggregation settings of the harness: Goldmane's geometry, 5 min replay horizon. */
export const DEFAULT_AGG_CONFIG: Readonly<AggregatorConfig> = Object.freeze({
  windowSec: 15,
  historyBuckets: 240,
  maxUniqueFlows: 100_000,
  replayHorizonSec: 300,
});

/** The real aggregator with a manual clock and its own metrics registry. */
export interface TestAggregator {
  readonly agg: Aggregator;
  readonly clock: ManualClock;
  readonly registry: Registry;
  readonly config: AggregatorConfig;
  /** Ingests a fixture flow (an IngestFlow or overrides for {@link ingestFlow}) from `node`. */
  ingest(flow?: IngestFlow | IngestFlowInit, node?: string): AddOutcome;
  /** Moves the clock forward and lets the aggregator roll over (a plain call). */
  advance(seconds: number): void;
  /** The query context a List would see now (does not tick). */
  context(): QueryContext;
  /** Parses a wire request and runs List over the store. */
  list(init?: ListRequestInit): ListAnswer;
  /** Shorthand: the rows of {@link list}. */
  rows(init?: ListRequestInit): FlowRow[];
  /** Current value of a counter/gauge, summed over series matching `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

function isIngestFlow(f: IngestFlow | IngestFlowInit): f is IngestFlow {
  // An IngestFlow's counters are array-like; an init's counters are a record by name.
  return f.counters !== undefined && typeof (f.counters as ArrayLike<number>).length === "number";
}

/** Creates the harness; the clock starts at `startSec` (default {@link T0}). */
export function testAggregator(config: Partial<AggregatorConfig> = {}, startSec: number = T0): TestAggregator {
  const cfg: AggregatorConfig = { ...DEFAULT_AGG_CONFIG, ...config };
  const clock = manualClock(startSec);
  const registry = new Registry();
  const agg = createAggregator(cfg, { clock, log: silentLogger(), metrics: aggregatorMetrics(registry) });
  const context = (): QueryContext => ({
    nowSec: agg.nowSec(),
    oldestStartSec: agg.store.ring.oldestStart,
    windowSec: agg.windowSec,
  });
  const list = (init: ListRequestInit = {}) => listFlows(agg.store, parseListRequest(listRequest(init), context()));
  return {
    agg,
    clock,
    registry,
    config: cfg,
    ingest: (flow = {}, node = "10.0.0.1") => agg.ingest(isIngestFlow(flow) ? flow : ingestFlow(flow), node),
    advance(seconds) {
      clock.advance(seconds);
      agg.tick();
    },
    context,
    list,
    rows: (init) => list(init).rows,
    async metric(name, labels = {}) {
      const m = registry.getSingleMetric(name);
      if (!m) throw new Error(`no metric ${name}`);
      const { values } = await m.get();
      let sum = 0;
      for (const v of values) {
        const l = v.labels as Record<string, string | number | undefined>;
        if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
      }
      return sum;
    },
  };
}
