import { cors as connectCors } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { PROOF_HEADER, PROOF_TIME_HEADER, SESSION_HEADER } from "../auth/index.js";
import type { DualHandler } from "./listener.js";

/** Request headers a browser may send: Connect's and gRPC-web's, the session token and its proof. */
export const CORS_ALLOWED_HEADERS = [...connectCors.allowedHeaders, SESSION_HEADER, PROOF_HEADER, PROOF_TIME_HEADER, "authorization"];
/** Response headers a browser may read (grpc-status and friends for gRPC-web). */
export const CORS_EXPOSED_HEADERS = [...connectCors.exposedHeaders];
/** How long a browser may cache a preflight answer, seconds. */
const MAX_AGE_SEC = 7200;

/**
 * Wraps the RPC handler with CORS for `CORS_ALLOWED_ORIGINS` (a list of exact origins, or "*"):
 * preflights from an allowed origin get 204 with Connect's allowed methods and headers plus
 * {@link CORS_ALLOWED_HEADERS}; from any other origin 403. Actual requests from an allowed origin
 * get `Access-Control-Allow-Origin` (the origin itself, with `Vary: Origin`); requests from other
 * origins are served without it, so the browser withholds the answer. No credentials (cookies)
 * are involved: the token travels in a header the page sets. An empty list changes nothing.
 */
export function withCors(allowedOrigins: readonly string[], next: DualHandler): DualHandler {
  if (allowedOrigins.length === 0) return next;
  const any = allowedOrigins.includes("*");
  const allowed = new Set(allowedOrigins);
  const allowMethods = connectCors.allowedMethods.join(", ");
  const allowHeaders = CORS_ALLOWED_HEADERS.join(", ");
  const exposeHeaders = CORS_EXPOSED_HEADERS.join(", ");
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return next(req, res);
    const ok = any || allowed.has(origin);
    const r = res as http.ServerResponse & http2.Http2ServerResponse;
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      if (!ok) {
        r.writeHead(403, { vary: "Origin" });
        r.end();
        return;
      }
      r.writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": String(MAX_AGE_SEC),
        vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
      });
      r.end();
      return;
    }
    if (ok) {
      r.setHeader("access-control-allow-origin", origin);
      r.setHeader("access-control-expose-headers", exposeHeaders);
      r.setHeader("vary", "Origin");
    }
    next(req, res);
  };
}
