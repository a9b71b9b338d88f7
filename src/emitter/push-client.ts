import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { createSecureContext } from "node:tls";
import { ConfigError } from "../config/parse.js";

/** Where and how batches are POSTed (goldmane/pkg/emitter/http_client.go). */
export interface PushTarget {
  readonly url: string;
  /** Trust root for the push server (CA_CERT_PATH); empty = the system's roots. */
  readonly caCertPath: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** The name the server certificate is checked against and sent as SNI (SERVER_NAME). */
  readonly serverName: string;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** Whole request, connect to response (upstream: 10 s to connect, no request limit). */
  readonly timeoutMs: number;
}

/** POSTs ndjson batches; resolves on HTTP 200, rejects with the reason otherwise. */
export interface PushClient {
  post(body: Buffer, signal: AbortSignal): Promise<void>;
}

/** Content type of a batch: one JSON document per line. */
export const NDJSON = "application/x-ndjson";

interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads the certificate files. Called at start-up (a missing or mismatched file stops it, naming
 * the variable) and before every POST, so renewed files are used without a restart — upstream
 * polls them every 30 s; one batch per window makes reading them per POST just as cheap.
 */
function readTlsFiles(t: PushTarget): TlsFiles {
  const read = (p: string, variable: string) => {
    if (p === "") return undefined;
    try {
      return readFileSync(p);
    } catch (e) {
      throw new ConfigError(variable, `cannot read ${p}: ${(e as Error).message}`);
    }
  };
  const files = { ca: read(t.caCertPath, "CA_CERT_PATH"), cert: read(t.clientCertPath, "CLIENT_CERT_PATH"), key: read(t.clientKeyPath, "CLIENT_KEY_PATH") };
  try {
    createSecureContext(files);
  } catch (e) {
    throw new ConfigError(files.cert ? "CLIENT_CERT_PATH" : "CA_CERT_PATH", `unusable certificate material: ${(e as Error).message}`);
  }
  return files;
}

/** Creates the client after checking its files (throws {@link ConfigError}). */
export function createPushClient(t: PushTarget): PushClient {
  const url = new URL(t.url);
  if (url.protocol === "https:") readTlsFiles(t);
  return {
    post(body, signal) {
      return new Promise<void>((resolve, reject) => {
        let options: https.RequestOptions;
        try {
          options = {
            method: "POST",
            headers: { "content-type": NDJSON, "content-length": String(body.length), "user-agent": "tributary-emitter" },
            agent: false,
            signal,
            timeout: t.timeoutMs,
            ...(url.protocol === "https:" ? { ...readTlsFiles(t), servername: t.serverName, minVersion: t.minVersion, rejectUnauthorized: true } : {}),
          };
        } catch (e) {
          reject(e as Error);
          return;
        }
        const req = (url.protocol === "https:" ? https : http).request(url, options, (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`unexpected status code: ${res.statusCode} ${res.statusMessage ?? ""}`.trim()))));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${t.timeoutMs} ms`)));
        req.on("error", reject);
        req.end(body);
      });
    },
  };
}
