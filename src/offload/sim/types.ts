/**
 * Dialect-neutral types of the emulator core. Both dialects use the same enum numbers
 * (reference offload-frostfs.md §1.3, openoffload-v1-interface.md §2), so the core works on the
 * numbers and the service adapters pass them through.
 */

/** `SessionState` / `SESSION_STATE`. */
export const State = { ESTABLISHED: 0, CLOSING_1: 1, CLOSING_2: 2, CLOSED: 3, UNKNOWN: 4 } as const;
/** `SessionCloseCode` / `SESSION_CLOSE_CODE`. */
export const CloseCode = { NOT_CLOSED: 0, FINACK: 1, RST: 2, TIMEOUT: 3, UNKNOWN: 4 } as const;
/** `AddSessionStatus` / `ADD_SESSION_STATUS`, used overall and per session. */
export const AddStatus = { ACCEPTED: 0, REJECTED: 1, TABLE_FULL: 2, TABLE_UNAVAILABLE: 3, ALREADY_EXISTS: 4 } as const;
/** `ActionType` / `ACTION_TYPE` (PROXY exists only in the OPI dialect). */
export const Action = { DROP: 0, FORWARD: 1, MIRROR: 2, SNOOP: 3, PROXY: 4 } as const;
/** `IpVersion` / `IP_VERSION`. */
export const IpVersion = { IPV4: 0, IPV6: 1 } as const;
/** `ProtocolId` / `PROTOCOL_ID`: the only valid values. */
export const Protocol = { TCP: 6, UDP: 17 } as const;

/** The most sessions one AddSession stream may carry: the width of the `errorstatus` bitmask. */
export const MAX_SESSIONS_PER_STREAM = 64;

/** State names for metrics and logs, indexed by number. */
export const STATE_NAMES = ["established", "closing_1", "closing_2", "closed", "unknown"] as const;
/** Close code names for metrics and logs, indexed by number. */
export const CLOSE_CODE_NAMES = ["not_closed", "finack", "rst", "timeout", "unknown"] as const;

/** What a session does with its packets; the fields a dialect lacks are zero/empty. */
export interface ActionSpec {
  type: number;
  nextHop: number;
  nextHopV6: Uint8Array;
  proxySrcV4: number;
  proxyDstV4: number;
  proxySrcV6: Uint8Array;
  proxyDstV6: Uint8Array;
  srcConnId: Uint8Array;
  dstConnId: Uint8Array;
}

/**
 * One session as a client asked for it, in either dialect. `id` is the textual id: the OPI
 * `Uuid.value`, or the decimal text of an openoffload.v1 `sessionId`.
 */
export interface SessionSpec {
  id: string;
  inLif: number;
  outLif: number;
  ipVersion: number;
  sourceIp: number;
  sourceIpV6: Uint8Array;
  sourcePort: number;
  destinationIp: number;
  destinationIpV6: Uint8Array;
  destinationPort: number;
  protocol: number;
  action: ActionSpec;
  cacheTimeoutSec: number;
  srcConnId: Uint8Array;
  dstConnId: Uint8Array;
}

/** A snapshot of one session, as Get/List/Delete/drain report it. Times in ms since the epoch. */
export interface SessionView {
  /** The id text as the client sent it. */
  id: string;
  numericId: bigint;
  inPackets: number;
  outPackets: number;
  inBytes: number;
  outBytes: number;
  state: number;
  closeCode: number;
  startMs: number;
  /** When the session closed; undefined while open. */
  endMs: number | undefined;
}

/** Why a session of an AddSession stream was not inserted (metric label values). */
export type RejectReason = "invalid" | "duplicate_id" | "duplicate_tuple" | "table_full";

/** One failed session of an AddSession stream. */
export interface AddError {
  /** Position in the stream, 0-based: the bit set in `errorBits`. */
  index: number;
  /** The id text as the client sent it. */
  id: string;
  /** The AddStatus code reported for this session. */
  code: number;
  reason: RejectReason;
  /** Human-readable cause, naming the field and value. */
  detail: string;
}

/** Result of adding one stream of sessions. */
export interface AddOutcome {
  /** Overall AddStatus. */
  status: number;
  /** Bit i set = the i-th session of the stream failed. */
  errorBits: bigint;
  /** Server time at which the stream was accepted (ms). */
  startMs: number;
  errors: AddError[];
  accepted: number;
}

/** What one {@link SessionTable.advance} did. */
export interface AdvanceOutcome {
  ticks: number;
  /** Sessions closed during these ticks, by close code name. */
  closed: { finack: number; rst: number; timeout: number };
  /** Ticks skipped because the table fell too far behind the clock. */
  skippedTicks: number;
}
