import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/** Log levels accepted by LOG_LEVEL (pino's names; Goldmane's logrus names map onto them). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * Creates the root JSON logger. Secrets that may pass through log fields (authorization headers,
 * session tokens) are redacted.
 */
export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "tributary" },
      redact: { paths: ["authorization", "token", "*.authorization", "*.token", "headers.authorization"], censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous writes: log volume is low (never per flow) and nothing is lost on exit.
    destination ?? pino.destination({ sync: true }),
  );
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/**
 * Returns a function that logs at most once per `intervalMs` for each reason and reports how many
 * events were suppressed in between: errors are counted in metrics and logged rate-limited, never
 * per flow (STYLE.md §6).
 */
export function rateLimitedLog(intervalMs: number, now: () => number = Date.now) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (reason: string, emit: (suppressed: number) => void): void => {
    const t = now();
    const entry = last.get(reason);
    if (entry && t - entry.at < intervalMs) {
      entry.suppressed++;
      return;
    }
    emit(entry?.suppressed ?? 0);
    last.set(reason, { at: t, suppressed: 0 });
  };
}
