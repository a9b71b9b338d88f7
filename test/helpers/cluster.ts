import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { FlowListRequestSchema, FlowListResultSchema, Flows, Statistics, StatisticsRequestSchema, StatisticsResultSchema, StatisticType, StatisticsGroupBy, FilterHintsRequestSchema, FilterHintsResultSchema, FilterType } from "../../src/gen/goldmane/api_pb.js";

/** Newest sequence of a stream, read with a separate NATS connection. */
export async function streamLastSeq(natsUrl: string, stream: string): Promise<number> {
  const nc = await connect({ servers: natsUrl.split(","), timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(stream)).state.last_seq;
  } finally {
    await nc.close();
  }
}

/** Polls `cond` every 100 ms until it holds or `timeoutMs` passed (then throws with `what`). */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A replica's answers as bytes: every List page (all keys, one page), Statistics per policy and
 * FilterHints for source names — what "answers identically, byte for byte" compares.
 */
export async function replicaAnswers(baseUrl: string): Promise<{ list: Buffer; stats: Buffer; hints: Buffer; rows: number; packetsIn: number; total: bigint }> {
  const transport = createGrpcTransport({ baseUrl });
  const flows = createClient(Flows, transport);
  const stats = createClient(Statistics, transport);
  const list = await flows.list(create(FlowListRequestSchema, { pageSize: 0n }));
  let packetsIn = 0;
  for (const f of list.flows) packetsIn += Number(f.flow?.packetsIn ?? 0n);
  const statBytes: Buffer[] = [];
  for await (const r of stats.list(create(StatisticsRequestSchema, { type: StatisticType.PacketCount, groupBy: StatisticsGroupBy.Policy }))) {
    statBytes.push(Buffer.from(toBinary(StatisticsResultSchema, r)));
  }
  const hints = await flows.filterHints(create(FilterHintsRequestSchema, { type: FilterType.FilterTypeSourceName }));
  return {
    list: Buffer.from(toBinary(FlowListResultSchema, list)),
    stats: Buffer.concat(statBytes),
    hints: Buffer.from(toBinary(FilterHintsResultSchema, hints)),
    rows: list.flows.length,
    packetsIn,
    total: list.meta?.totalResults ?? 0n,
  };
}
