import { readFile } from "node:fs/promises";
import type { FlowRow } from "../model/flow.js";
import type { Logger } from "../observability/logger.js";
import { rateLimitedLog } from "../observability/logger.js";
import { batchBody } from "./flow-json.js";
import type { EmitterMetrics } from "./metrics.js";
import type { PushClient } from "./push-client.js";

/**
 * What the emitter needs from the aggregator: closed buckets, like the stream hub (STYLE.md §1:
 * no storage or query types cross this line).
 */
export interface EmitterSource {
  /** Bucket width W (seconds). */
  readonly windowSec: number;
  nowSec(): number;
  /** Start of the oldest bucket still held. */
  oldestStartSec(): number;
  /** Called after each rollover (the emitter checks whether a window became due). */
  onReady(listener: (bucketStartSec: number) => void): () => void;
  /** One aggregated flow per key over the buckets starting in `[startSec, endSec)`. */
  flowsIn(startSec: number, endSec: number): FlowRow[];
}

/** Where progress is kept across restarts (ConfigMap `flow-emitter-state`, configmap-state.ts). */
export interface EmitterState {
  /** For logs: namespace/name. */
  readonly where: string;
  /** The end of the last window emitted, or null when none was recorded. Throws on API errors. */
  load(): Promise<number | null>;
  save(endSec: number): Promise<void>;
}

/** Emitter settings (ServeConfig's emitter block, plus timings tests may shorten). */
export interface EmitterConfig {
  /** EMITTER_AGGREGATION_WINDOW in seconds: a multiple of W. */
  readonly emitterWindowSec: number;
  /** EMIT_AFTER_SECONDS: a multiple of W. */
  readonly emitAfterSec: number;
  /** Retries of one window before it is given up (counted failed). */
  readonly maxRetries: number;
  /** FILE_CONFIG_PATH; "" = always enabled. */
  readonly fileConfigPath: string;
  /** How often FILE_CONFIG_PATH is re-read (upstream: 30 s). */
  readonly fileConfigIntervalMs: number;
  /** Backoff of retries: first delay, doubled per failure, capped (upstream: 1 s, 30 s). */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export interface EmitterDeps {
  source: EmitterSource;
  client: PushClient;
  /** null when there is no Kubernetes API: progress is then kept in memory only. */
  state: EmitterState | null;
  metrics: EmitterMetrics;
  log: Logger;
}

/** The running emitter (`start`/`stop` own its timers and the in-flight POST). */
export interface Emitter {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Start of the next window to emit (null until progress is known). */
  readonly nextStartSec: number | null;
  readonly enabled: boolean;
  /** Resolves once nothing is in flight and no window is due (for tests and shutdown). */
  idle(): Promise<void>;
}

/**
 * Reads FILE_CONFIG_PATH as Goldmane's sink manager does (goldmane/pkg/daemon/config.go
 * `sinkEnabled`): a missing, unreadable or invalid file means "do not emit".
 */
export async function readEmitFlows(path: string): Promise<{ enabled: boolean; problem?: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return { enabled: false, problem: (e as NodeJS.ErrnoException).code === "ENOENT" ? undefined : (e as Error).message };
  }
  try {
    const v = JSON.parse(text) as unknown;
    const flag = v !== null && typeof v === "object" ? (v as Record<string, unknown>).emitFlows : undefined;
    if (flag !== undefined && typeof flag !== "boolean") return { enabled: false, problem: `emitFlows must be true or false, got ${JSON.stringify(flag)}` };
    return { enabled: flag === true };
  } catch (e) {
    return { enabled: false, problem: (e as Error).message };
  }
}

/**
 * Goldmane's emitter (goldmane/pkg/emitter), with one change of rule: windows go out strictly in
 * order. Window boundaries are multiples of EMITTER_AGGREGATION_WINDOW (E) in Unix time; the
 * window `[s, s+E)` is due once its last bucket is EMIT_AFTER_SECONDS old, i.e. at the rollover to
 * `s+E+EMIT_AFTER_SECONDS`. Its flows — one per key, aggregated over the window as List does — are
 * POSTed as one ndjson batch; an empty window sends nothing. After a 200 (or an empty window) the
 * window's end is the new progress, saved in ConfigMap `flow-emitter-state` (`latestTimestamp`);
 * on start the emitter resumes exactly there, so a restart neither re-sends nor skips a window
 * (upstream skips only whole batches ending at or before it, and windows shift with its start
 * time). A failed POST is retried after 1 s, 2 s, 4 s … up to 30 s, at most `maxRetries` times,
 * then the window is counted failed and the next one goes (upstream drops it likewise); later
 * windows wait meanwhile, so progress never passes a window that may still be sent. Windows whose
 * buckets have all left the history are skipped and counted. With FILE_CONFIG_PATH the emitter
 * pauses while the file does not say `{"emitFlows": true}` and resumes where it stopped.
 */
export function createEmitter(config: EmitterConfig, deps: EmitterDeps): Emitter {
  const { source, client, state, metrics, log } = deps;
  const W = source.windowSec;
  const E = config.emitterWindowSec;
  const limited = rateLimitedLog(60_000);
  let next: number | null = null;
  let enabled = config.fileConfigPath === "";
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let fileTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  const inflight = new AbortController();
  metrics.enabled.set(enabled ? 1 : 0);

  /** The end of the window starting at `s`: the next multiple of E (shorter after an odd start). */
  const windowEnd = (s: number) => (Math.floor(s / E) + 1) * E;
  /** Windows ending at or before this are due (the current bucket's start minus the delay). */
  const dueLimit = () => Math.floor(source.nowSec() / W) * W - config.emitAfterSec;

  const backoffMs = () => Math.min(config.retryMaxMs, config.retryMinMs * 2 ** Math.max(0, failures - 1));

  const scheduleRetry = () => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      kick();
    }, backoffMs());
    retryTimer.unref();
  };

  /** Finds where to start: the saved progress, else the oldest whole window held. */
  const loadProgress = async (): Promise<boolean> => {
    let found: number | null = null;
    if (state) {
      try {
        found = await state.load();
      } catch (err) {
        failures++;
        metrics.stateErrors.inc({ op: "load" });
        limited("load", (suppressed) => log.error({ err, configMap: state.where, retryInMs: backoffMs(), suppressed }, "cannot read emitter progress; not emitting until it can be read"));
        return false;
      }
      failures = 0;
    }
    if (found !== null) {
      // Bucket edges are multiples of W; a foreign value is rounded up (never re-sending).
      next = Math.ceil(found / W) * W;
      saved = found;
      log.info({ latestTimestamp: found, configMap: state?.where }, "emitter resumes after the saved window");
    } else {
      next = Math.ceil(source.oldestStartSec() / E) * E;
      log.info({ from: next, configMap: state?.where ?? null }, state ? "no emitter progress saved: emitting the history held" : "no Kubernetes API: emitter progress is kept in memory only");
    }
    metrics.latestTimestamp.set(next);
    return true;
  };

  /** Progress last written to the ConfigMap (empty windows are saved once per pump, not each). */
  let saved: number | null = null;
  const saveProgress = async (endSec: number) => {
    metrics.latestTimestamp.set(endSec);
    if (!state || saved === endSec) return;
    saved = endSec;
    try {
      await state.save(endSec);
    } catch (err) {
      // Kept in memory; the next window saves again. A restart before that re-sends one window.
      metrics.stateErrors.inc({ op: "save" });
      limited("save", (suppressed) => log.warn({ err, configMap: state.where, latestTimestamp: endSec, suppressed }, "cannot save emitter progress"));
    }
  };

  /** Emits every due window in order; returns when none is due, on a failure (retry scheduled), or when paused. */
  const pump = async () => {
    // Nothing is loaded or read while paused (the Kubernetes client included).
    if (!enabled || stopped) return;
    if (next === null && !(await loadProgress())) {
      scheduleRetry();
      return;
    }
    try {
      await emitDue();
    } finally {
      // Empty windows advanced the progress without a write; keep it once they are all done.
      if (next !== null && next !== saved && !stopped) await saveProgress(next);
    }
  };

  const emitDue = async () => {
    while (!stopped && enabled && next !== null) {
      let start = next;
      const oldest = source.oldestStartSec();
      if (windowEnd(start) <= oldest) {
        // Every bucket of these windows is gone: jump to the first window still (partly) held.
        const resume = Math.floor(oldest / E) * E;
        const skipped = Math.max(1, Math.ceil((resume - start) / E));
        metrics.windowsSkipped.inc(skipped);
        log.warn({ from: start, to: resume, windows: skipped }, "emitter windows skipped: their buckets have left the history");
        start = resume;
        next = resume;
      }
      const end = windowEnd(start);
      if (end > dueLimit()) return;
      const rows = source.flowsIn(start, end);
      if (rows.length > 0) {
        try {
          await client.post(batchBody(rows), inflight.signal);
        } catch (err) {
          if (stopped) return;
          failures++;
          if (failures <= config.maxRetries) {
            metrics.batchesRetried.inc();
            limited("post", (suppressed) => log.warn({ err: (err as Error).message, start, end, flows: rows.length, attempt: failures, retryInMs: backoffMs(), suppressed }, "emitting flows failed; will retry"));
            scheduleRetry();
            return;
          }
          metrics.batchesFailed.inc();
          log.error({ err: (err as Error).message, start, end, flows: rows.length, attempts: failures }, "emitting flows failed; window given up");
          failures = 0;
          next = end;
          await saveProgress(end);
          continue;
        }
        if (failures > 0) log.info({ start, end, retries: failures }, "emitted flows after retries");
        failures = 0;
        metrics.batchesSent.inc();
        metrics.flowsSent.inc(rows.length);
        log.debug({ start, end, flows: rows.length }, "emitted flows");
      }
      const sent = rows.length > 0;
      next = end;
      // After a POST the progress is written at once: a restart must not send it again.
      if (sent) await saveProgress(end);
      else metrics.latestTimestamp.set(end);
    }
  };

  /** Runs the pump, once at a time; a kick while it runs makes it go round again. */
  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (retryTimer) return; // a retry is pending: it will run the pump
    running = (async () => {
      // Off the rollover's call stack: the ingest or query that rolled over finishes first.
      await new Promise((r) => setImmediate(r));
      try {
        do {
          again = false;
          await pump();
        } while (again && !stopped && !retryTimer);
      } catch (err) {
        log.error({ err }, "emitter failed");
      } finally {
        running = null;
      }
    })();
  };

  const checkFile = async () => {
    const r = await readEmitFlows(config.fileConfigPath);
    if (r.problem) limited("file", (suppressed) => log.warn({ file: config.fileConfigPath, problem: r.problem, suppressed }, "emitter config file unusable: not emitting"));
    if (r.enabled !== enabled) {
      enabled = r.enabled;
      metrics.enabled.set(enabled ? 1 : 0);
      log.info({ enabled, file: config.fileConfigPath }, "emitter enablement changed");
      if (enabled) kick();
    }
  };

  return {
    get nextStartSec() {
      return next;
    },
    get enabled() {
      return enabled;
    },
    async start() {
      if (config.fileConfigPath !== "") {
        await checkFile();
        const poll = () => {
          fileTimer = setTimeout(() => {
            void checkFile().finally(() => {
              if (!stopped) poll();
            });
          }, config.fileConfigIntervalMs);
          fileTimer.unref();
        };
        poll();
      }
      unsubscribe = source.onReady(() => kick());
      kick();
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      clearTimeout(retryTimer);
      clearTimeout(fileTimer);
      inflight.abort(new Error("emitter stopping"));
      await running;
    },
    async idle() {
      while (running) await running;
    },
  };
}
