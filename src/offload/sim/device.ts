import type { Registry } from "prom-client";
import { rateLimitedLog, type Logger } from "../../observability/logger.js";
import type { Clock } from "./clock.js";
import type { SimConfig } from "./config.js";
import { offloadSimMetrics, type Dialect, type OffloadSimMetrics } from "./metrics.js";
import { seededRandom, type Random } from "./prng.js";
import { SessionTable, SessionTableError, type OpiListArgs, type SessionPage, type V1ListArgs } from "./session-table.js";
import type { AddOutcome, SessionSpec, SessionView } from "./types.js";

/** Dependencies of {@link createOffloadDevice}. */
export interface OffloadDeviceDeps {
  clock: Clock;
  registry: Registry;
  log: Logger;
  /** Defaults to a generator seeded with `config.seed`. */
  random?: Random;
}

/**
 * The emulated device: the {@link SessionTable} plus its metrics and logs. Every operation first
 * brings the traffic model up to the clock, then counts what happened. The service adapters of
 * both dialects share one device, as a real device has one table.
 */
export interface OffloadDevice {
  readonly config: Readonly<SimConfig>;
  readonly table: SessionTable;
  readonly metrics: OffloadSimMetrics;
  /** Runs the traffic model up to now (also called by the server's tick timer). */
  sync(): void;
  addSessions(specs: readonly SessionSpec[], dialect: Dialect): AddOutcome;
  /** Counts an AddSession stream refused with an RPC error. */
  refuseStream(reason: "too_many"): void;
  get(numericId: bigint): SessionView;
  delete(numericId: bigint): SessionView;
  listOpi(args: OpiListArgs): SessionPage;
  listV1(args: V1ListArgs): SessionPage;
  drainClosed(limit: number): SessionView[];
}

/** Creates the emulated device. Inert: owns no timer or socket. */
export function createOffloadDevice(config: Readonly<SimConfig>, deps: OffloadDeviceDeps): OffloadDevice {
  const table = new SessionTable(config, { clock: deps.clock, random: deps.random ?? seededRandom(config.seed) });
  const metrics = offloadSimMetrics(deps.registry, { countByState: () => table.countByState(), capacity: config.capacity });
  const log = deps.log;
  const limited = rateLimitedLog(10_000, () => deps.clock.nowSec() * 1000);

  const sync = () => {
    const out = table.advance();
    if (out.closed.finack) metrics.closed.inc({ code: "finack" }, out.closed.finack);
    if (out.closed.rst) metrics.closed.inc({ code: "rst" }, out.closed.rst);
    if (out.closed.timeout) metrics.closed.inc({ code: "timeout" }, out.closed.timeout);
    if (out.skippedTicks) {
      metrics.skippedTicks.inc(out.skippedTicks);
      limited("skipped_ticks", (suppressed) => log.warn({ skippedTicks: out.skippedTicks, suppressed }, "emulator fell behind the clock, traffic ticks skipped"));
    }
  };
  const lookup = (op: (id: bigint) => SessionView, id: bigint) => {
    sync();
    try {
      return op(id);
    } catch (err) {
      if (err instanceof SessionTableError) metrics.lookupErrors.inc({ reason: err.kind });
      throw err;
    }
  };

  return {
    config,
    table,
    metrics,
    sync,
    addSessions(specs, dialect) {
      sync();
      const out = table.addSessions(specs);
      metrics.added.inc({ dialect }, out.accepted);
      for (const e of out.errors) metrics.rejected.inc({ reason: e.reason });
      log.debug({ dialect, sessions: specs.length, accepted: out.accepted, failed: out.errors.length, status: out.status }, "AddSession stream");
      if (out.errors.length > 0) {
        const first = out.errors[0]!;
        limited(`add_${first.reason}`, (suppressed) =>
          log.info({ dialect, failed: out.errors.length, reason: first.reason, id: first.id, detail: first.detail, suppressed }, "sessions rejected"),
        );
      }
      return out;
    },
    refuseStream(reason) {
      metrics.rejectedStreams.inc({ reason });
    },
    get: (id) => lookup((n) => table.get(n), id),
    delete(id) {
      const v = lookup((n) => table.delete(n), id);
      metrics.deleted.inc();
      return v;
    },
    listOpi(args) {
      sync();
      return table.listOpi(args);
    },
    listV1(args) {
      sync();
      return table.listV1(args);
    },
    drainClosed(limit) {
      sync();
      const out = table.drainClosed(limit);
      metrics.drained.inc(out.length);
      return out;
    },
  };
}
