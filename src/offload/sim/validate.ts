import { parseSessionId, type ParsedSessionId } from "../session-id.js";
import { Action, IpVersion, Protocol, type SessionSpec } from "./types.js";

/** Longest QUIC connection id (RFC 9000 §17.2: 0–20 bytes). */
export const MAX_CONN_ID_BYTES = 20;

/** Result of {@link validateSession}: the parsed id, or the first rule the session breaks. */
export type Validation = { ok: true; id: ParsedSessionId } | { ok: false; detail: string };

/**
 * Checks one session against the rules of reference offload-frostfs.md §2.10 (built from the proto
 * comments). A failure becomes `_SESSION_REJECTED` for that session. inLif and outLif are free-form.
 * Beyond §2.10, the id must have a numeric form (session-id.ts), or Get/Delete could never name it.
 */
export function validateSession(s: SessionSpec): Validation {
  const fail = (detail: string): Validation => ({ ok: false, detail });
  if (s.id === "") return fail("session_id: missing or empty");
  const id = parseSessionId(s.id);
  if (!id) return fail(`session_id: must be a base-10 uint64 or a UUID, got "${s.id.slice(0, 64)}"`);
  if (s.ipVersion !== IpVersion.IPV4 && s.ipVersion !== IpVersion.IPV6) return fail(`ipversion: must be 0 or 1, got ${s.ipVersion}`);
  const v6 = s.ipVersion === IpVersion.IPV6;
  if (v6) {
    if (s.sourceIpV6.length !== 16) return fail(`sourceipv6: must be 16 bytes, got ${s.sourceIpV6.length}`);
    if (s.destinationIpV6.length !== 16) return fail(`destinationipv6: must be 16 bytes, got ${s.destinationIpV6.length}`);
  } else {
    if (s.sourceIpV6.length > 0) return fail("sourceipv6: must be empty for an IPv4 session");
    if (s.destinationIpV6.length > 0) return fail("destinationipv6: must be empty for an IPv4 session");
  }
  if (s.sourcePort > 65535) return fail(`sourceport: must be <= 65535, got ${s.sourcePort}`);
  if (s.destinationPort > 65535) return fail(`destinationport: must be <= 65535, got ${s.destinationPort}`);
  if (s.protocol !== Protocol.TCP && s.protocol !== Protocol.UDP) return fail(`protocolid: must be 6 (TCP) or 17 (UDP), got ${s.protocol}`);
  const a = s.action;
  switch (a.type) {
    case Action.DROP:
    case Action.FORWARD:
      break;
    case Action.MIRROR:
    case Action.SNOOP:
      if (v6 ? a.nextHopV6.length !== 16 : a.nextHop === 0) {
        return fail(`action.actionnexthop${v6 ? "v6" : ""}: ${a.type === Action.MIRROR ? "MIRROR" : "SNOOP"} needs an IPv${v6 ? 6 : 4} next hop`);
      }
      break;
    case Action.PROXY:
      if (v6 ? a.proxySrcV6.length !== 16 || a.proxyDstV6.length !== 16 : a.proxySrcV4 === 0 || a.proxyDstV4 === 0) {
        return fail(`action: PROXY needs IPv${v6 ? 6 : 4} proxy source and destination addresses`);
      }
      break;
    default:
      return fail(`action.actiontype: unknown value ${a.type}`);
  }
  for (const [name, bytes] of [
    ["srcconnid", s.srcConnId],
    ["dstconnid", s.dstConnId],
    ["action.srcconnid", a.srcConnId],
    ["action.dstconnid", a.dstConnId],
  ] as const) {
    if (bytes.length > MAX_CONN_ID_BYTES) return fail(`${name}: must be at most ${MAX_CONN_ID_BYTES} bytes, got ${bytes.length}`);
  }
  return { ok: true, id };
}

/**
 * The 7-tuple that identifies a flow on the device: inLif, outLif, source address and port,
 * destination address and port, protocol. IPv4 and IPv6 sessions never compare equal.
 */
export function tupleKey(s: SessionSpec): string {
  const addr = (v4: number, v6: Uint8Array) => (s.ipVersion === IpVersion.IPV6 ? `6:${Buffer.from(v6).toString("hex")}` : `4:${v4 >>> 0}`);
  return `${s.inLif}|${s.outLif}|${addr(s.sourceIp, s.sourceIpV6)}|${s.sourcePort}|${addr(s.destinationIp, s.destinationIpV6)}|${s.destinationPort}|${s.protocol}`;
}
