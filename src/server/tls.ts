import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type * as tls from "node:tls";
import { ConfigError } from "../config/parse.js";
import type { Logger } from "../observability/logger.js";

/** Where the TLS material of the RPC port comes from (Goldmane's variables, goldmane-spec §8.1). */
export interface TlsPaths {
  certPath: string;
  keyPath: string;
  /** Client CA bundle; non-empty = mTLS (client certificates required and verified). */
  caPath: string;
  minVersion: "TLSv1.2" | "TLSv1.3";
}

/** The files' contents, read once. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

function readFile(path: string, variable: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (e) {
    throw new ConfigError(variable, `cannot read "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Reads the certificate, key and CA; a missing or unreadable file names its variable. */
export function loadTlsMaterial(p: TlsPaths): TlsMaterial {
  return {
    cert: readFile(p.certPath, "SERVER_CERT_PATH"),
    key: readFile(p.keyPath, "SERVER_KEY_PATH"),
    ca: p.caPath ? readFile(p.caPath, "CA_CERT_PATH") : undefined,
  };
}

/** Server options for `http2.createSecureServer` from the material. */
export function tlsServerOptions(p: TlsPaths, m: TlsMaterial): tls.TlsOptions {
  return {
    cert: m.cert,
    key: m.key,
    ca: m.ca,
    requestCert: m.ca !== undefined,
    rejectUnauthorized: m.ca !== undefined,
    minVersion: p.minVersion,
    ALPNProtocols: ["h2", "http/1.1"],
  };
}

function digest(m: TlsMaterial): string {
  const h = createHash("sha256");
  h.update(m.cert).update("\0").update(m.key).update("\0").update(m.ca ?? "");
  return h.digest("hex");
}

/**
 * Polls the certificate files and hands new material to `apply` when their contents change.
 * Polling (not fs.watch) because Kubernetes renews Secret volumes by swapping a `..data` symlink,
 * which watches on the file paths miss. A half-written pair (cert and key that do not match) is
 * rejected by `apply` and retried at the next poll; the old certificate stays in use.
 */
export function watchTlsFiles(p: TlsPaths, intervalMs: number, apply: (m: TlsMaterial) => void, log: Logger) {
  let current = digest(loadTlsMaterial(p));
  const timer = setInterval(() => {
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(p);
    } catch (err) {
      log.warn({ err: (err as Error).message }, "cannot read TLS files; keeping the current certificate");
      return;
    }
    const d = digest(next);
    if (d === current) return;
    try {
      apply(next);
      current = d;
      log.info({ certPath: p.certPath }, "TLS certificate reloaded");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "new TLS files rejected; keeping the current certificate");
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
