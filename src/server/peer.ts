import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";

type NodeServerRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** The caller's network address (IP only, never IP:port: DESIGN §3 node identity). */
export const kPeerAddress = createContextKey<string>("", { description: "peer IP address" });

/** Normalises a socket address: IPv4-mapped IPv6 becomes plain IPv4. */
export function normalizeIp(addr: string | undefined): string {
  if (!addr) return "";
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

/** Context values for a request: the peer IP, read once from the socket. */
export function requestContextValues(req: NodeServerRequest): ContextValues {
  const values = createContextValues();
  values.set(kPeerAddress, normalizeIp(req.socket?.remoteAddress));
  return values;
}
