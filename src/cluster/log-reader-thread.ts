import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { LogMessage, NatsLogConfig } from "./nats-log.js";

/**
 * Reading the log on a thread of its own. A replica replaying a backlog spent about a third of its
 * thread in the NATS client (socket reads, protocol parsing, the consumer's pulls) rather than in
 * applying entries; the reader thread (cluster/log-reader-worker.ts) holds its own connection and
 * ordered consumer, copies each message's bytes once and transfers them (not a structured clone),
 * so the main thread only applies. At most {@link READ_AHEAD} entries are handed over
 * and not yet taken by the replica: a replica that applies slowly slows the reader, and the
 * reader's pulls, instead of buffering the backlog in memory.
 */
export const READ_AHEAD = 16;

/** Time the replica applies entries before it lets its other work run (queries, scrapes). */
const TURN_MS = 10;

/** What the reader thread is started with (its workerData). */
export interface LogReaderInit {
  config: NatsLogConfig;
  fromSeq: number;
  readAhead: number;
}

/** Main thread → reader: `taken` entries were taken off the queue; `close` ends the reader. */
export type ToLogReader = { type: "taken"; n: number } | { type: "close" };

/** Reader → main thread. */
export type FromLogReader =
  | { type: "message"; seq: number; pending: number; data: Uint8Array }
  | { type: "failed"; message: string }
  | { type: "ended" };

/** Starts the reader thread: its module is compiled JavaScript in dist/, bundled from source. */
function startReaderThread(init: LogReaderInit): Worker {
  const options = { workerData: init, name: "tributary-log-reader" };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./log-reader-worker.js", import.meta.url), options);
  // Started without the process's flags: an inherited `--import tsx` does not reach a thread's
  // entry module on Node 20, and the bundle needs no loader.
  return new Worker(bundledReader(), { ...options, eval: true, execArgv: [] });
}

let bundle: string | undefined;

/**
 * Run from source (tsx, vitest), the reader's module and everything it imports, bundled by esbuild
 * (the compiler tsx uses; a dev dependency, as running from source is) into one CommonJS script
 * that the thread evaluates; no file is written. Not compiled through module hooks in the thread
 * (tsx's tsImport): on Node 20 those are the process's one hooks chain, which every new reader
 * grew; with them, a replica started late in a full test run once did not apply the log within
 * a minute. Whether the hooks were the cause is not known; the bundle takes them out of the
 * picture, and starts a reader faster.
 */
function bundledReader(): string {
  if (bundle !== undefined) return bundle;
  const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
  const built = esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL("./log-reader-worker.ts", import.meta.url))],
    write: false,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "silent",
  });
  bundle = built.outputFiles[0]!.text;
  return bundle;
}

/**
 * The log from sequence `fromSeq` on, read on the reader thread. Returns at once: connecting and
 * creating the consumer happen on the thread (failures end the iteration with an error), so a
 * replica stopping while NATS is away is not held up by a connection that waits for it.
 */
export async function readLogInThread(config: NatsLogConfig, fromSeq: number): Promise<AsyncIterable<LogMessage> & { close(): Promise<void> }> {
  const worker = startReaderThread({ config, fromSeq, readAhead: READ_AHEAD });
  const queue: LogMessage[] = [];
  let head = 0;
  let failure: Error | undefined;
  let ended = false;
  let closing = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on("message", (m: FromLogReader) => {
    if (m.type === "message") queue.push({ seq: m.seq, pending: m.pending, data: m.data });
    else if (m.type === "failed") failure ??= new Error(m.message);
    else ended = true;
    notify();
  });
  worker.on("error", (e) => {
    failure ??= e;
    notify();
  });
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", () => {
      if (!closing && !ended) failure ??= new Error("the log reader thread exited");
      ended = true;
      notify();
      resolve();
    }),
  );
  let taken = 0;
  const take = (): LogMessage => {
    const m = queue[head]!;
    queue[head++] = undefined as unknown as LogMessage;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    if (++taken >= READ_AHEAD / 4) {
      worker.postMessage({ type: "taken", n: taken } satisfies ToLogReader);
      taken = 0;
    }
    return m;
  };
  return {
    async *[Symbol.asyncIterator]() {
      let turnAt = performance.now();
      for (;;) {
        if (closing) return;
        // The entries arrive as messages that the thread handles back to back, and applying them
        // runs in the same turn: without a pause the replica's queries and scrapes waited for
        // the whole backlog (a scrape answered after ~400 ms of a replay). One turn of the event
        // loop every TURN_MS of applying keeps them within about that.
        if (performance.now() - turnAt >= TURN_MS) {
          await new Promise((r) => setImmediate(r));
          turnAt = performance.now();
        }
        if (head < queue.length) yield take();
        else if (failure) throw failure;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
      }
    },
    async close() {
      if (closing) return exited;
      closing = true;
      notify();
      worker.postMessage({ type: "close" } satisfies ToLogReader);
      // The thread closes its connection and ends; one that does not within 5 s is ended for it.
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
