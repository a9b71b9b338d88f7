import * as fs from "node:fs";
import * as path from "node:path";
import type { Aggregator } from "../aggregator/aggregator.js";
import type { Logger } from "../observability/logger.js";
import { SnapshotError } from "../storage/snapshot.js";

/**
 * Restores the aggregator from `file` if it exists. An unusable snapshot (another version or
 * window, a truncated file) is logged and moved aside, and the server starts empty: a snapshot
 * must never stop the service from starting.
 */
export function restoreSnapshotFile(file: string, aggregator: Aggregator, log: Logger): void {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      log.info({ file }, "no snapshot to restore; starting empty");
      return;
    }
    log.warn({ file, err: (e as Error).message }, "cannot read snapshot; starting empty");
    return;
  }
  try {
    const t0 = performance.now();
    const summary = aggregator.restore(bytes);
    log.info({ file, ...summary, ms: Math.round(performance.now() - t0) }, "snapshot restored");
  } catch (e) {
    if (!(e instanceof SnapshotError)) throw e;
    const aside = `${file}.unusable-${Date.now()}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      /* keep going: starting empty matters more than moving the file */
    }
    log.warn({ file, movedTo: aside, err: e.message }, "snapshot not usable; starting empty");
  }
}

/** Writes a snapshot atomically (a temporary file renamed over the old one). */
export function writeSnapshotFile(file: string, aggregator: Aggregator, log: Logger): void {
  const t0 = performance.now();
  const bytes = aggregator.snapshot();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes, { mode: 0o600 });
  fs.renameSync(tmp, file);
  log.info({ file, bytes: bytes.length, ms: Math.round(performance.now() - t0) }, "snapshot written");
}

/** Writes a snapshot every `intervalMs` (0 = never; the caller writes one on shutdown). */
export function periodicSnapshots(file: string, intervalMs: number, aggregator: Aggregator, log: Logger) {
  if (intervalMs <= 0) return { stop() {} };
  const timer = setInterval(() => {
    try {
      writeSnapshotFile(file, aggregator, log);
    } catch (err) {
      log.error({ err, file }, "periodic snapshot failed");
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
