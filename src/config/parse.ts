/** Thrown for an invalid configuration value; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go duration ("15s", "1m30s", "500ms", as Goldmane's envconfig does) into milliseconds.
 * A bare non-negative integer is taken as seconds.
 */
export function parseDurationMs(raw: string): number {
  const s = raw.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  if (s === "" ) throw new Error("empty duration");
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new Error(`invalid duration "${raw}" (use e.g. 15s, 1m30s, 500ms)`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return total;
}

export function parseIntStrict(raw: string): number {
  const s = raw.trim();
  if (!/^-?\d+$/.test(s)) throw new Error(`must be an integer, got "${raw}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`out of range, got "${raw}"`);
  return n;
}

export function parseBool(raw: string): boolean {
  const s = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(s)) return true;
  if (["false", "0", "no", "off"].includes(s)) return false;
  throw new Error(`must be true or false, got "${raw}"`);
}

export function parsePort(raw: string): number {
  const n = parseIntStrict(raw);
  if (n < 0 || n > 65535) throw new Error(`must be a port number 0-65535, got "${raw}"`);
  return n;
}
