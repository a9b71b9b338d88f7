import * as fs from "node:fs";
import { ConfigError } from "../config/parse.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Parses a revocation list (AUTH_REVOKED_PATH): one token id (UUID) per line; `#` starts a comment;
 * blank lines are ignored. Throws naming the line of the first bad entry.
 */
export function parseRevocationList(text: string): Set<string> {
  const out = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim().toLowerCase();
    if (line === "") return;
    if (!UUID.test(line)) throw new Error(`line ${i + 1}: not a token id (UUID): "${raw.trim()}"`);
    out.add(line);
  });
  return out;
}

/** The revoked token ids, re-read by {@link RevocationList.reload}. */
export interface RevocationList {
  has(id: string): boolean;
  readonly size: number;
  reload(): void;
}

/** Loads AUTH_REVOKED_PATH ("" = nothing revoked). A bad file at start-up is a ConfigError. */
export function loadRevocationList(p: string): RevocationList {
  let ids = new Set<string>();
  const load = () => {
    if (p === "") return new Set<string>();
    try {
      return parseRevocationList(fs.readFileSync(p, "utf8"));
    } catch (e) {
      throw new ConfigError("AUTH_REVOKED_PATH", `"${p}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  ids = load();
  return {
    has: (id) => ids.has(id.toLowerCase()),
    get size() {
      return ids.size;
    },
    reload() {
      ids = load();
    },
  };
}
