import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as tls from "node:tls";
import type { ClientCertificate } from "./authorize.js";

/**
 * The CA-verified client certificate of a request's connection: its subject CN, else its first
 * DNS SAN. null on cleartext, without a certificate, or when it did not verify.
 */
export function clientCertificateOf(req: http.IncomingMessage | http2.Http2ServerRequest): ClientCertificate {
  const s = req.socket as tls.TLSSocket | undefined;
  if (!s || typeof s.getPeerCertificate !== "function" || s.authorized !== true) return null;
  const c = s.getPeerCertificate();
  if (!c || Object.keys(c).length === 0) return null;
  const cn = typeof c.subject?.CN === "string" ? c.subject.CN : Array.isArray(c.subject?.CN) ? c.subject.CN[0] : undefined;
  const san = c.subjectaltname
    ?.split(/,\s*/)
    .find((x) => x.startsWith("DNS:"))
    ?.slice(4);
  const subject = cn || san;
  return subject ? { subject } : null;
}
