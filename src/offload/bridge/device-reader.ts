import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { SessionTable as V1Table, sessionIdSchema, sessionRequestArgsSchema, type sessionResponse } from "../../gen/openoffload/v1/openoffload_pb.js";
import { SessionTable as OpiTable, SessionIdSchema, SessionRequestArgsSchema, type SessionResponse } from "../../gen/opi_api/security/firewall/v1/openoffload_pb.js";
import { parseSessionId, UINT64_MAX } from "../session-id.js";
import type { Dialect, SessionSnapshot } from "./types.js";

/** A device answered something the bridge cannot use (counted as a device error, `garbage`). */
export class DeviceGarbageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeviceGarbageError";
  }
}

/** Read access to one device's session table, in either dialect. */
export interface DeviceReader {
  readonly dialect: Dialect;
  /** Every session, page by page (GetAllSession / getAllSessions). */
  listAll(signal?: AbortSignal): Promise<SessionSnapshot[]>;
  /** One session by numeric id; undefined when the device does not know it. */
  get(numericId: bigint, signal?: AbortSignal): Promise<SessionSnapshot | undefined>;
  /** Drains closed sessions (v1 `getClosedSessions`; destructive, only for exclusive devices). */
  drainClosed(signal?: AbortSignal): Promise<SessionSnapshot[]>;
}

/** Options of {@link createDeviceReader}. */
export interface DeviceReaderOptions {
  /** v1 cursor page size (the C server and the emulator cap it at 64). */
  pageSize?: number;
  /** Per-call deadline. */
  timeoutMs?: number;
  /** Upper bound on pages per listing (a device that never ends its paging). */
  maxPages?: number;
}

const MAX_STATE = 4;

function seconds(t: Timestamp | undefined): number | undefined {
  // The Go server sends year 1 for "unset" (reference §2.8): seconds ≤ 0 are unset.
  if (!t || t.seconds <= 0n) return undefined;
  return Number(t.seconds);
}

function checkEnums(state: number, closeCode: number, id: string): void {
  if (state < 0 || state > MAX_STATE || closeCode < 0 || closeCode > MAX_STATE) {
    throw new DeviceGarbageError(`session ${id}: state ${state} / close code ${closeCode} outside 0-4`);
  }
}

/** The snapshot of an OPI `SessionResponse`. Throws {@link DeviceGarbageError} for a bad id. */
export function fromOpiResponse(r: SessionResponse): SessionSnapshot {
  const text = r.sessionid?.value ?? "";
  const parsed = parseSessionId(text);
  if (!parsed) throw new DeviceGarbageError(`session id: not a uint64 or UUID, got "${text.slice(0, 64)}"`);
  checkEnums(r.sessionstate, r.sessionclosecode, parsed.key);
  return {
    id: parsed.key,
    numericId: parsed.numeric,
    inPackets: r.inpackets,
    outPackets: r.outpackets,
    inBytes: r.inbytes,
    outBytes: r.outbytes,
    state: r.sessionstate,
    closeCode: r.sessionclosecode,
    startSec: seconds(r.starttime),
  };
}

/** The snapshot of an openoffload.v1 `sessionResponse`. */
export function fromV1Response(r: sessionResponse): SessionSnapshot {
  checkEnums(r.sessionState, r.sessionCloseCode, r.sessionId.toString());
  return {
    id: r.sessionId.toString(),
    numericId: r.sessionId,
    inPackets: r.inPackets,
    outPackets: r.outPackets,
    inBytes: r.inBytes,
    outBytes: r.outBytes,
    state: r.sessionState,
    closeCode: r.sessionCloseCode,
    startSec: seconds(r.startTime),
  };
}

const notFound = (e: unknown) => e instanceof ConnectError && (e.code === Code.NotFound || /not found/i.test(e.rawMessage));

/**
 * Creates a reader for one device over `transport`. Listing is read-only and tolerant of the
 * reference servers' paging quirks (reference §2.4): OPI pages with the `startkey` extension until
 * `nextkey` is 0; v1 walks the C-style cursor (`startSession` = 2^64−1, then the last id) and stops
 * on an empty page or a page with nothing new (the Python simulator ignores the cursor and always
 * answers the whole table with `nextkey` 23333).
 */
export function createDeviceReader(dialect: Dialect, transport: Transport, options: DeviceReaderOptions = {}): DeviceReader {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxPages = options.maxPages ?? 100_000;
  if (dialect === "opi") {
    const client = createClient(OpiTable, transport);
    return {
      dialect,
      async listAll(signal) {
        const out = new Map<string, SessionSnapshot>();
        let key = 0n;
        for (let page = 0; page < maxPages; page++) {
          const res = await client.getAllSession(create(SessionRequestArgsSchema, { startkey: key }), { timeoutMs, signal });
          for (const s of res.sessioninfo) {
            const snap = fromOpiResponse(s);
            out.set(snap.id, snap);
          }
          if (res.nextkey === 0n || res.nextkey === key || res.sessioninfo.length === 0) return [...out.values()];
          key = res.nextkey;
        }
        throw new DeviceGarbageError(`GetAllSession: more than ${maxPages} pages`);
      },
      async get(numericId, signal) {
        try {
          return fromOpiResponse(await client.getSession(create(SessionIdSchema, { sessionId: numericId }), { timeoutMs, signal }));
        } catch (e) {
          if (notFound(e)) return undefined;
          throw e;
        }
      },
      drainClosed: async () => [],
    };
  }
  const client = createClient(V1Table, transport);
  const pageSize = options.pageSize ?? 64;
  return {
    dialect,
    async listAll(signal) {
      const out = new Map<string, SessionSnapshot>();
      let cursor = UINT64_MAX;
      for (let page = 0; page < maxPages; page++) {
        const res = await client.getAllSessions(create(sessionRequestArgsSchema, { pageSize, startSession: cursor }), { timeoutMs, signal });
        let fresh = 0;
        for (const s of res.sessionInfo) {
          const snap = fromV1Response(s);
          if (!out.has(snap.id)) fresh++;
          out.set(snap.id, snap);
        }
        if (fresh === 0 || res.nextkey === cursor || res.nextkey === 0n) return [...out.values()];
        cursor = res.nextkey;
      }
      throw new DeviceGarbageError(`getAllSessions: more than ${maxPages} pages`);
    },
    async get(numericId, signal) {
      try {
        const r = await client.getSession(create(sessionIdSchema, { sessionId: numericId }), { timeoutMs, signal });
        // PySim-style devices answer OK with only requestStatus = _REJECTED_SESSION_NONEXISTENT.
        if (r.requestStatus === 2 && r.sessionId === 0n) return undefined;
        return fromV1Response(r);
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    async drainClosed(signal) {
      const out: SessionSnapshot[] = [];
      for await (const s of client.getClosedSessions(create(sessionRequestArgsSchema, {}), { timeoutMs, signal })) out.push(fromV1Response(s));
      return out;
    },
  };
}
