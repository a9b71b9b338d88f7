/**
 * Dialect-neutral types of the offload bridge. Enum numbers are the same in both dialects
 * (reference offload-frostfs.md §1.3), so the bridge works on numbers.
 */

/** Which SessionTable a device speaks. */
export type Dialect = "opi" | "v1";

/** One session as a device reports it (GetAllSession(s), GetSession, a drain or a delete reply). */
export interface SessionSnapshot {
  /** Canonical id text (`parseSessionId(...).key`): the same session in either dialect. */
  id: string;
  /** The uint64 that GetSession/DeleteSession name it by. */
  numericId: bigint;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
  state: number;
  closeCode: number;
  /**
   * Device start time in whole seconds, or undefined when unset (seconds ≤ 0 count as unset,
   * reference §2.8). Used only to tell instances apart, never for windows (§3.4).
   */
  startSec: number | undefined;
}

/**
 * What a session is: its addresses and ports, protocol and action, as the firewall added it. The
 * device's read API does not return these (SessionResponse carries counters and times only), so
 * they come from a {@link SessionCatalog}: the AddSession tap, or a caller that knows them.
 */
export interface SessionDescriptor {
  /** Normalised address text (dotted quad or RFC 5952). */
  sourceIp: string;
  sourcePort: number;
  destinationIp: string;
  destinationPort: number;
  /** IP protocol number (6 TCP, 17 UDP). */
  protocol: number;
  /** ActionType number (0 DROP … 4 PROXY). */
  action: number;
  /** PROXY sessions: the post-proxy destination address (the real backend), else undefined. */
  proxyDestinationIp?: string;
}

/** `SessionState` numbers. */
export const SessionState = { ESTABLISHED: 0, CLOSING_1: 1, CLOSING_2: 2, CLOSED: 3, UNKNOWN: 4 } as const;
/** `SessionCloseCode` numbers. */
export const SessionCloseCode = { NOT_CLOSED: 0, FINACK: 1, RST: 2, TIMEOUT: 3, UNKNOWN: 4 } as const;
/** `ActionType` numbers. */
export const ActionType = { DROP: 0, FORWARD: 1, MIRROR: 2, SNOOP: 3, PROXY: 4 } as const;

/** True when a session is over: state `_CLOSED` or any close code (reference §3.2). */
export function isClosed(s: Pick<SessionSnapshot, "state" | "closeCode">): boolean {
  return s.state === SessionState.CLOSED || s.closeCode !== SessionCloseCode.NOT_CLOSED;
}
