import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { FlowReceiptSchema, FlowUpdateSchema, type FlowCollector, type FlowUpdate } from "../gen/goldmane/api_pb.js";
import { SinkError, type IngestSink } from "../aggregator/ingest-sink.js";
import type { Aggregator } from "../aggregator/aggregator.js";
import { flowFromUpdate } from "../model/convert.js";
import type { ServerMetrics } from "./metrics.js";
import { kCallAuth } from "../auth/index.js";
import { kPeerAddress } from "./peer.js";

export interface CollectorDeps {
  aggregator: Aggregator;
  metrics: ServerMetrics;
  /**
   * The reporting node of a call: authenticated identity when there is one, else the peer IP.
   * Default: the session token's node (set by the auth interceptor), else the peer IP.
   */
  nodeOf?: (ctx: HandlerContext) => string;
  /** Cluster mode: updates are appended here (re-encoded) and receipted once it acknowledged. */
  sink?: IngestSink;
}

const RECEIPT = create(FlowReceiptSchema);

/**
 * Iterates `source` until `signal` aborts, then throws the abort reason. Connect aborts the
 * handler's signal on server shutdown, but a handler waiting for the next client message would
 * never see it; racing the wait ends long-lived ingest streams promptly (UNAVAILABLE).
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new ConnectError("call aborted", Code.Canceled));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
    void it.return?.();
  }
}

/** Ingests one FlowUpdate; returns nothing: the receipt is the same whatever happened. */
export function ingestUpdate(deps: CollectorDeps, update: FlowUpdate, node: string): void {
  const converted = flowFromUpdate(update);
  if (converted.ok) deps.aggregator.ingest(converted.flow, node);
  else deps.aggregator.reject(converted.reason, node);
}

/** Appends one update to the cluster log and waits for it to be durable (UNAVAILABLE if not). */
async function appendUpdate(sink: IngestSink, update: FlowUpdate, node: string): Promise<void> {
  const bytes = toBinary(FlowUpdateSchema, update);
  try {
    await sink.encoded(bytes, 0, bytes.length, node);
  } catch (e) {
    if (e instanceof SinkError) throw new ConnectError(e.message, e.reason === "too_large" ? Code.ResourceExhausted : Code.Unavailable);
    throw e;
  }
}

/**
 * goldmane.FlowCollector: exactly one FlowReceipt per FlowUpdate, in order (goldmane-spec §2.1).
 * Malformed updates are receipted too (the protocol has no per-update error) but not stored.
 */
export function collectorService(deps: CollectorDeps): Partial<ServiceImpl<typeof FlowCollector>> {
  const nodeOf = deps.nodeOf ?? ((ctx: HandlerContext) => ctx.values.get(kCallAuth).session?.node || ctx.values.get(kPeerAddress));
  return {
    async *connect(updates, ctx) {
      const node = nodeOf(ctx);
      const received = deps.metrics.receivedFrom(node);
      deps.metrics.collectorClients.inc();
      try {
        for await (const update of untilAborted(updates, ctx.signal)) {
          received.n++;
          if (deps.sink) await appendUpdate(deps.sink, update, node);
          else ingestUpdate(deps, update, node);
          yield RECEIPT;
        }
      } finally {
        deps.metrics.collectorClients.dec();
      }
    },
  };
}
