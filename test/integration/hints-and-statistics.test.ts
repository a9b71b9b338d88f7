import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FilterType,
  FlowCollector,
  Flows,
  StatisticType,
  Statistics,
  StatisticsGroupBy,
  type FlowUpdate,
  type StatisticsRequestSchema,
  type StatisticsResult,
} from "../../src/gen/goldmane/api_pb.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

const T0 = 1_700_000_010; // a multiple of 15
const W = 15;
const old = T0 - 4 * W; // complete buckets

const transports: Record<string, (url: string) => Transport> = {
  grpc: (baseUrl) => createGrpcTransport({ baseUrl }),
  "grpc-web-h1": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  "connect-h1": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  "connect-json-h2": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }),
};

const hit = (o: { kind?: number; namespace?: string; name: string; tier?: string; action?: number; policyIndex?: bigint; ruleIndex?: bigint; trigger?: object }) => ({
  kind: 1,
  namespace: "default",
  tier: "default",
  action: 1,
  policyIndex: 0n,
  ruleIndex: 0n,
  ...o,
});

/** Flows: an allow through np default/allow-web (rule 2), a deny by the end of tier "sec" after gnp "gate". */
const updates: FlowUpdate[] = [
  wireUpdate(old, { sourceName: "pub", destNamespace: "web", policies: { enforcedPolicies: [hit({ name: "allow-web", ruleIndex: 2n })] } }, { packetsIn: 3n, packetsOut: 4n }),
  wireUpdate(old - W, { sourceName: "pub", destNamespace: "web", policies: { enforcedPolicies: [hit({ name: "allow-web", ruleIndex: 2n })] } }, { packetsIn: 5n, packetsOut: 6n }),
  wireUpdate(old, {
    sourceName: "client-*",
    destNamespace: "db",
    reporter: 2,
    action: 2,
    policies: {
      enforcedPolicies: [
        hit({ kind: 10, namespace: "", name: "", tier: "sec", action: 2, policyIndex: 1n, ruleIndex: -1n, trigger: hit({ kind: 2, namespace: "", name: "gate", tier: "sec", action: 0 }) }),
      ],
      pendingPolicies: [hit({ kind: 3, namespace: "db", name: "staged-db", tier: "default", action: 2, ruleIndex: 1n })],
    },
  }),
];

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer({}, T0);
  const client = createClient(FlowCollector, createGrpcTransport({ baseUrl: ts.baseUrl }));
  async function* gen() {
    yield* updates;
  }
  let receipts = 0;
  for await (const _ of client.connect(gen())) receipts++;
  expect(receipts).toBe(updates.length);
});
afterAll(async () => {
  await ts.close();
});

type StatsReq = MessageInitShape<typeof StatisticsRequestSchema>;

/** Reads a Statistics.List stream to the end: the messages and the error (if any). */
async function stats(t: Transport, req: StatsReq): Promise<{ results: StatisticsResult[]; error: ConnectError | null }> {
  const results: StatisticsResult[] = [];
  try {
    for await (const r of createClient(Statistics, t).list(req)) results.push(r);
  } catch (e) {
    return { results, error: ConnectError.from(e) };
  }
  return { results, error: null };
}

const who = (r: StatisticsResult) => `${r.policy?.tier}|${r.policy?.kind}|${r.policy?.namespace}/${r.policy?.name}|${r.policy?.action}|${r.policy?.ruleIndex}|${r.direction}`;

describe.each(Object.keys(transports))("FilterHints and Statistics over %s", (name) => {
  const t = () => transports[name]!(ts.baseUrl);

  it("FilterHints: raw names, policy values with trigger, sorted, paged", async () => {
    const flows = createClient(Flows, t());
    const src = await flows.filterHints({ type: FilterType.FilterTypeSourceName });
    expect(src.hints.map((h) => h.value)).toEqual(["client-*", "pub"]);
    expect(src.meta).toMatchObject({ totalPages: 1n, totalResults: 2n });
    const tiers = await flows.filterHints({ type: FilterType.FilterTypePolicyTier });
    expect(tiers.hints.map((h) => h.value)).toEqual(["default", "sec"]);
    const kinds = await flows.filterHints({ type: FilterType.FilterTypePolicyKind });
    expect(kinds.hints.map((h) => h.value)).toEqual(["CalicoNetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy"]);
    const names = await flows.filterHints({ type: FilterType.FilterTypePolicyName, filter: { destNamespaces: [{ value: "db" }] }, pageSize: 1n, page: 1n });
    expect(names.hints.map((h) => h.value)).toEqual(["staged-db"]);
    expect(names.meta).toMatchObject({ totalPages: 2n, totalResults: 2n });
    const past = await flows.filterHints({ type: FilterType.FilterTypeDestNamespace, pageSize: 5n, page: 4n });
    expect(past.hints).toEqual([]);
    expect(past.meta).toMatchObject({ totalPages: 1n, totalResults: 2n });
  });

  it("FilterHints: unspecified type → INVALID_ARGUMENT", async () => {
    const err = await createClient(Flows, t())
      .filterHints({ type: FilterType.FilterTypeUnspecified })
      .then(() => null, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toBe("type: unsupported filter type 'FilterTypeUnspecified'");
  });

  it("Statistics PolicyRule: EndOfTier credited to the trigger, real rule_index, direction, counts", async () => {
    const { results, error } = await stats(t(), { groupBy: StatisticsGroupBy.PolicyRule, type: StatisticType.PacketCount });
    expect(error).toBeNull();
    expect(results.map(who)).toEqual(["default|1|default/allow-web|1|2|2", "default|3|db/staged-db|2|1|1", "sec|2|/gate|2|-1|1"]);
    expect(results[0]).toMatchObject({ allowedIn: [8n], allowedOut: [10n], deniedIn: [0n], x: [], groupBy: StatisticsGroupBy.PolicyRule });
    expect(results[2]).toMatchObject({ deniedIn: [1n], deniedOut: [2n] });
  });

  it("Statistics Policy time series: one element per bucket with data, x = bucket starts", async () => {
    const { results } = await stats(t(), { timeSeries: true, policyMatch: { name: { value: "allow-web" } } });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ x: [BigInt(old - W), BigInt(old)], allowedIn: [5n, 3n], allowedOut: [6n, 4n], direction: 0 });
    expect(results[0]!.policy?.ruleIndex).toBe(0n);
  });

  it("Statistics policy_match.action matches rules", async () => {
    const { results } = await stats(t(), { policyMatch: { action: 2 } });
    expect(results.map((r) => r.policy?.name)).toEqual(["staged-db", "gate"]);
  });

  it("Statistics with no match: one empty message, then NOT_FOUND", async () => {
    const { results, error } = await stats(t(), { policyMatch: { name: { value: "nope" } } });
    expect(results).toHaveLength(1);
    expect(results[0]!.policy).toBeUndefined();
    expect(results[0]!.allowedIn).toEqual([]);
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toBe("No statistics matching request");
  });

  it("Statistics: a range outside the ring or an unknown type → INVALID_ARGUMENT, no message", async () => {
    for (const req of [{ startTimeGte: -7200n }, { type: 7 as StatisticType }, { groupBy: 5 as StatisticsGroupBy }, { startTimeGte: -10n, startTimeLt: -20n }]) {
      const { results, error } = await stats(t(), req);
      expect(results).toEqual([]);
      expect(error?.code).toBe(Code.InvalidArgument);
    }
  });
});
