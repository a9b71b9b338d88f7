import type { FlowKey, FlowResult } from "../gen/goldmane/api_pb.js";
import type { FlowKeyModel } from "../model/flow.js";
import { COUNTERS } from "../model/flow.js";
import { keyToProto, rowToProto } from "../model/convert.js";
import { bucketStart } from "../model/time.js";
import type { KeyPredicate } from "../query/filter.js";
import type { FlowStore } from "../storage/flow-store.js";
import { MAX_STREAMS_MESSAGE, StreamEndedError, type StreamEndReason } from "./errors.js";
import type { StreamMetrics } from "./metrics.js";

/** What the hub reads: the aggregator's store and its rollover notifications. */
export interface StreamSource {
  readonly store: FlowStore;
  readonly windowSec: number;
  /** Registers a listener called after each rollover; returns an unsubscribe. */
  onReady(listener: (bucketStartSec: number) => void): () => void;
}

/** Limits of the hub (DESIGN §4). */
export interface StreamHubConfig {
  /** Open subscriptions at most (MAX_STREAMS); one more is refused. */
  maxStreams: number;
  /** Results a live stream may have queued; one more ends it ("consumer too slow"). */
  queueSize: number;
  /**
   * Rows examined per rendering slice before yielding to the event loop. Trade-off: larger
   * slices render faster, smaller ones keep ingest latency low while a big backfill renders.
   */
  sliceRows?: number;
  /** Results a backfilling stream renders ahead of its consumer (≤ queueSize). */
  readAhead?: number;
}

export interface StreamHubDeps {
  source: StreamSource;
  metrics: StreamMetrics;
  /** Runs a rendering slice later (default `setImmediate`); tests pass a manual queue. */
  schedule?: (task: () => void) => void;
  /** Monotonic milliseconds for the backfill latency metric (default `performance.now`). */
  nowMs?: () => number;
}

/** A subscription request, already normalised (server/ parses the wire request). */
export interface StreamRequest {
  /**
   * Absolute start in Unix seconds, or `null` for no backfill ("now"). The stream begins with the
   * bucket containing it, clamped to the oldest bucket held.
   */
  startSec: number | null;
  /** Compiled filter (the List rules, goldmane-spec §4.5). */
  filter: KeyPredicate;
}

/** One open stream, as its consumer sees it. */
export interface StreamSubscription {
  readonly id: number;
  /** Results queued and not yet taken. */
  readonly queued: number;
  /**
   * The next result, or `undefined` when none is queued right now (call {@link wait}). Throws
   * {@link StreamEndedError} once the hub ended the stream; returns `undefined` after close().
   */
  take(): FlowResult | undefined;
  /** Resolves when a result is queued, the stream ends, or `signal` aborts. Never rejects. */
  wait(signal?: AbortSignal): Promise<void>;
  /** Unsubscribes: the queue is dropped and the MAX_STREAMS slot freed at once. Idempotent. */
  close(): void;
}

/** Fan-out of ready buckets to Flows.Stream subscribers (DESIGN §1, §4). */
export interface StreamHub {
  /** Opens a stream. Throws {@link StreamEndedError} ("max_streams", "closed"). */
  subscribe(req: StreamRequest): StreamSubscription;
  /** Open subscriptions. */
  readonly size: number;
  /** Ends every stream ("closed") and refuses new ones; detaches from the source. */
  close(): void;
}

const OPEN = 0;
const ENDED = 1;
const CLOSED = 2;

interface Sub {
  readonly id: number;
  readonly filter: KeyPredicate;
  /** Start of the bucket being rendered, or the next one to render. Only moves forward. */
  cursor: number;
  /** Index into the cursor bucket's row list of the next row to examine. */
  rowIdx: number;
  /** Caught up with every ready bucket once: from then on rendered eagerly, bounded by queueSize. */
  live: boolean;
  state: number;
  error: StreamEndedError | undefined;
  items: (FlowResult | undefined)[];
  head: number;
  waiter: (() => void) | undefined;
  readonly t0: number;
  readonly backfill: boolean;
}

/**
 * Creates the StreamHub. Every subscription has one cursor, the start of the next bucket it must
 * send. Backfill and live batches are the same walk: a bucket is renderable once it is ready
 * (start ≤ currentStart − 2W, i.e. `[R−2W, R−W)` after a rollover at R) and still held
 * (start ≥ oldestStart). Because the cursor only moves forward, a rollover during a backfill can
 * neither skip nor repeat a bucket (goldmane-spec §5.1's race cannot happen), and rows that arrive
 * in a bucket already passed are not re-sent.
 *
 * While a stream has ready buckets behind it (its backfill), it renders lazily, at most
 * `readAhead` results ahead of its consumer, so a large backfill costs little memory. Once caught
 * up it is live: each rollover renders the new bucket into its queue at once; a queue beyond
 * `queueSize` ends that stream ("queue_full"), and a bucket recycled before the stream reached it
 * ends it too ("expired"), never a silent gap. Rendering runs in slices of `sliceRows` rows on
 * `schedule`, never inside ingest or rollover: the rollover listener only marks streams as due.
 */
export function createStreamHub(config: StreamHubConfig, deps: StreamHubDeps): StreamHub {
  const { source, metrics } = deps;
  const store = source.store;
  const ring = store.ring;
  const W = source.windowSec;
  const schedule = deps.schedule ?? ((task: () => void) => void setImmediate(task));
  const nowMs = deps.nowMs ?? (() => performance.now());
  const queueSize = config.queueSize;
  const sliceRows = Math.max(1, config.sliceRows ?? 1024);
  const readAhead = Math.max(1, Math.min(queueSize, config.readAhead ?? 1024));
  const lowWater = Math.floor(readAhead / 2);
  if (!Number.isInteger(config.maxStreams) || config.maxStreams < 0) throw new RangeError("maxStreams must be a whole number ≥ 0");
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError("queueSize must be a whole number ≥ 1");

  const subs = new Set<Sub>();
  /** Streams with rendering to do, in round-robin order. */
  const work = new Set<Sub>();
  let scheduled = false;
  let closed = false;
  let nextId = 1;

  // The key of a FlowResult is the same message for every bucket and stream while the key lives.
  const keyProtos = new WeakMap<FlowKeyModel, FlowKey>();
  // Live streams render the newest ready bucket together: build each of its results once.
  let sharedBucket = Number.NaN;
  let shared: (FlowResult | undefined)[] = [];

  const readyEnd = () => ring.currentStart - W; // exclusive: buckets starting before it are ready

  const render = (b: number, row: number, idx: number): FlowResult => {
    const isShared = b === readyEnd() - W;
    if (isShared) {
      if (b !== sharedBucket) {
        sharedBucket = b;
        shared = [];
      }
      const hit = shared[idx];
      if (hit) return hit;
    }
    const s = store.series;
    const slot = s.keySlot[row]!;
    const key = store.keys.keys[slot]!;
    let kp = keyProtos.get(key);
    if (!kp) {
      kp = keyToProto(key);
      keyProtos.set(key, kp);
    }
    const result = rowToProto(
      {
        id: store.keys.ids[slot]!,
        key,
        startSec: b,
        endSec: b + W,
        sourceLabels: store.labels.values(s.sourceLabels[row]!),
        destLabels: store.labels.values(s.destLabels[row]!),
        counters: s.counters.subarray(row * COUNTERS, row * COUNTERS + COUNTERS),
        ...store.ips.between(store.keys.ids[slot]!, b, b),
      },
      kp,
    );
    if (isShared) shared[idx] = result;
    return result;
  };

  const wake = (sub: Sub) => {
    const w = sub.waiter;
    if (w) {
      sub.waiter = undefined;
      w();
    }
  };

  const detach = (sub: Sub) => {
    subs.delete(sub);
    work.delete(sub);
    sub.items = [];
    sub.head = 0;
    metrics.streams.set(subs.size);
    wake(sub);
  };

  const end = (sub: Sub, reason: StreamEndReason, message: string) => {
    if (sub.state !== OPEN) return;
    sub.state = ENDED;
    sub.error = new StreamEndedError(reason, message);
    if (reason === "queue_full" || reason === "expired") metrics.overflows.inc({ reason });
    detach(sub);
  };

  const count = (sub: Sub) => sub.items.length - sub.head;

  const pump = () => {
    scheduled = false;
    let budget = sliceRows;
    for (const sub of work) {
      if (budget <= 0) break;
      budget -= renderSome(sub, budget);
    }
    if (work.size > 0 && !scheduled) {
      scheduled = true;
      schedule(pump);
    }
  };

  const kick = (sub: Sub) => {
    if (sub.state !== OPEN) return;
    work.add(sub);
    if (!scheduled) {
      scheduled = true;
      schedule(pump);
    }
  };

  /** Renders up to `budget` rows for one stream; returns the rows (and buckets) examined. */
  const renderSome = (sub: Sub, budget: number): number => {
    let spent = 0;
    while (spent < budget) {
      if (sub.state !== OPEN) return spent;
      if (sub.cursor >= readyEnd()) {
        // Everything ready has been rendered: the stream is (now) live.
        if (!sub.live) {
          sub.live = true;
          if (sub.backfill) metrics.backfillLatency.observe(nowMs() - sub.t0);
        }
        work.delete(sub);
        return spent;
      }
      if (sub.cursor < ring.oldestStart) {
        // The bucket was recycled (and its slot may already hold a newer bucket) before this
        // stream sent it: end the stream rather than skip it silently (DESIGN §4).
        end(sub, "expired", `consumer too slow: the bucket starting at ${sub.cursor} expired before it was sent; reconnect with start_time_gte to backfill`);
        return spent + 1;
      }
      if (!sub.live && count(sub) >= readAhead) {
        // Backfill paces itself on the consumer; take() resumes it.
        work.delete(sub);
        return spent;
      }
      const rows = ring.rowsOf(sub.cursor);
      const keys = store.keys.keys;
      const keySlot = store.series.keySlot;
      const stop = Math.min(rows.length, sub.rowIdx + (budget - spent));
      let i = sub.rowIdx;
      while (i < stop) {
        const row = rows[i]!;
        const key = keys[keySlot[row]!];
        const idx = i++;
        if (key === undefined || !sub.filter(key)) continue;
        const wasEmpty = count(sub) === 0;
        sub.items.push(render(sub.cursor, row, idx));
        if (wasEmpty) wake(sub);
        if (sub.live) {
          if (count(sub) > queueSize) {
            end(sub, "queue_full", `consumer too slow: more than ${queueSize} results queued; reconnect with start_time_gte to backfill`);
            return spent + (i - sub.rowIdx);
          }
        } else if (count(sub) >= readAhead) {
          break;
        }
      }
      spent += i - sub.rowIdx + 1;
      sub.rowIdx = i;
      if (i >= rows.length) {
        sub.cursor += W;
        sub.rowIdx = 0;
      }
    }
    // Out of budget with work left: go to the back of the round robin.
    work.delete(sub);
    work.add(sub);
    return spent;
  };

  const unsubscribeSource = source.onReady(() => {
    // Cheap on the rollover path: mark every stream as due; rendering happens in slices later.
    // Paused backfills are included so that one whose next bucket expired ends promptly.
    for (const sub of subs) kick(sub);
  });

  const subscribe = (req: StreamRequest): StreamSubscription => {
    if (closed) throw new StreamEndedError("closed", "server is shutting down");
    if (subs.size >= config.maxStreams) throw new StreamEndedError("max_streams", MAX_STREAMS_MESSAGE);
    const next = readyEnd();
    // DESIGN §4: from the bucket containing the start, clamped to the oldest bucket held; a start
    // in the streaming, current or future bucket just waits for that bucket to become ready.
    const cursor = req.startSec === null ? next : Math.max(bucketStart(req.startSec, W), ring.oldestStart);
    const sub: Sub = {
      id: nextId++,
      filter: req.filter,
      cursor,
      rowIdx: 0,
      live: cursor >= next,
      state: OPEN,
      error: undefined,
      items: [],
      head: 0,
      waiter: undefined,
      t0: nowMs(),
      backfill: req.startSec !== null,
    };
    subs.add(sub);
    metrics.streams.set(subs.size);
    if (!sub.live) kick(sub);
    else if (sub.backfill) metrics.backfillLatency.observe(0);

    return {
      id: sub.id,
      get queued() {
        return count(sub);
      },
      take() {
        if (sub.state === ENDED) throw sub.error!;
        if (sub.head >= sub.items.length) return undefined;
        const r = sub.items[sub.head]!;
        sub.items[sub.head++] = undefined;
        if (sub.head === sub.items.length) {
          sub.items.length = 0;
          sub.head = 0;
        } else if (sub.head >= 4096 && sub.head * 2 >= sub.items.length) {
          sub.items = sub.items.slice(sub.head);
          sub.head = 0;
        }
        metrics.sent.inc();
        if (!sub.live && count(sub) <= lowWater && !work.has(sub)) kick(sub);
        return r;
      },
      wait(signal) {
        if (count(sub) > 0 || sub.state !== OPEN || signal?.aborted) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const onAbort = () => {
            sub.waiter = undefined;
            resolve();
          };
          signal?.addEventListener("abort", onAbort, { once: true });
          sub.waiter = () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          };
        });
      },
      close() {
        if (sub.state !== OPEN) return;
        sub.state = CLOSED;
        detach(sub);
      },
    };
  };

  return {
    subscribe,
    get size() {
      return subs.size;
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribeSource();
      for (const sub of [...subs]) end(sub, "closed", "server is shutting down");
    },
  };
}
