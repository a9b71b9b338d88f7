import { isZeroSessionId, parseSessionId, UINT64_MAX } from "../session-id.js";
import type { Clock } from "./clock.js";
import type { SimConfig } from "./config.js";
import type { Random } from "./prng.js";
import {
  AddStatus,
  CloseCode,
  MAX_SESSIONS_PER_STREAM,
  Protocol,
  State,
  type ActionSpec,
  type AddError,
  type AddOutcome,
  type AdvanceOutcome,
  type SessionSpec,
  type SessionView,
} from "./types.js";
import { tupleKey, validateSession } from "./validate.js";

/** Kinds of {@link SessionTableError}; the service adapters map each to one RPC code. */
export type SessionTableErrorKind = "not_found" | "ambiguous" | "too_many";

/** A request the table cannot serve, with the field and value in the message. */
export class SessionTableError extends Error {
  override readonly name = "SessionTableError";
  constructor(
    readonly kind: SessionTableErrorKind,
    message: string,
  ) {
    super(message);
  }
}

type Phase = "active" | "idle" | "closing_1" | "closing_2" | "done";

/** One row of the table. Mutable; never handed out (views are copies). */
interface Entry {
  readonly seq: number;
  readonly id: string;
  readonly key: string;
  readonly numericId: bigint;
  readonly tuple: string;
  readonly spec: SessionSpec;
  readonly timeoutMs: number;
  readonly inPps: number;
  readonly outPps: number;
  inPackets: number;
  outPackets: number;
  inBytes: number;
  outBytes: number;
  state: number;
  closeCode: number;
  readonly startMs: number;
  endMs: number | undefined;
  lastActivityMs: number;
  phase: Phase;
}

/** Dependencies of {@link SessionTable}: time and randomness, both injected. */
export interface SessionTableDeps {
  clock: Clock;
  random: Random;
}

/** Arguments of the OPI GetAllSession, already decoded. */
export interface OpiListArgs {
  /** `Uuid.value`; empty or zero = all sessions. */
  id: string;
  /** 0 = no filter (proto3 cannot tell `_ESTABLISHED` from unset). */
  state: number;
  /** Sequence number to start at (a previous `nextKey`); 0 = from the start. */
  startKey: bigint;
}

/** Arguments of the openoffload.v1 getAllSessions. */
export interface V1ListArgs {
  pageSize: number;
  page: number;
  startSession: bigint;
}

/** A page of sessions. `nextKey` = 0n when nothing follows (OPI) or the last id returned (v1). */
export interface SessionPage {
  sessions: SessionView[];
  nextKey: bigint;
}

/** `startSession` values that mean "from the beginning" in cursor mode (C client: UINT_MAX). */
const CURSOR_START = new Set([0xffffffffn, UINT64_MAX]);
/** Page cap of the v1 cursor mode (the C server returns at most 64). */
export const V1_CURSOR_PAGE_MAX = 64;

/**
 * The session table of an emulated offload device: validation, capacity, duplicates, lookups,
 * listing, draining, and a traffic model that moves counters and closes sessions. Pure: no I/O,
 * time from the injected clock, randomness from the injected seeded generator. Time moves only in
 * {@link advance}, which callers run before each operation; so a test advances a manual clock and
 * calls `advance()`, with nothing to wait for.
 *
 * Rules (DESIGN.md §6; reference offload-frostfs.md §2): all-or-nothing capacity per stream;
 * per-session errors carry AddStatus codes and the client's id; duplicates by id and by 7-tuple;
 * closed sessions keep their final counters (and their slot) until deleted or drained.
 */
export class SessionTable {
  private readonly entries = new Map<number, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private readonly byTuple = new Map<string, Entry>();
  private readonly byNumeric = new Map<bigint, Entry[]>();
  /** Entries sorted by (numericId, seq), for the v1 cursor: binary search instead of a sort per page. */
  private readonly sorted: Entry[] = [];
  private nextSeq = 1;
  private nextTickMs: number;
  private readonly tickProb: { fin: number; rst: number; idle: number };

  constructor(
    readonly config: Readonly<SimConfig>,
    private readonly deps: SessionTableDeps,
  ) {
    this.nextTickMs = this.nowMs() + config.traffic.tickMs;
    const dt = config.traffic.tickMs / 1000;
    const perTick = (p: number) => 1 - Math.pow(1 - p, dt);
    this.tickProb = { fin: perTick(config.traffic.finPerSec), rst: perTick(config.traffic.rstPerSec), idle: perTick(config.traffic.idlePerSec) };
  }

  /** Number of entries, CLOSED ones included. */
  get size(): number {
    return this.entries.size;
  }

  /** Entry counts by state number. */
  countByState(): number[] {
    const counts = [0, 0, 0, 0, 0];
    for (const e of this.entries.values()) counts[e.state] = (counts[e.state] ?? 0) + 1;
    return counts;
  }

  /**
   * Adds one AddSession stream. Capacity for the whole stream is checked first: if it does not fit,
   * nothing is inserted and every session fails with `_SESSION_TABLE_FULL`. Otherwise each session,
   * in order, is validated (`_SESSION_REJECTED`) and checked for a duplicate id or 7-tuple in the
   * table or earlier in the stream (`_SESSION_ALREADY_EXISTS`); the others are inserted.
   *
   * @throws SessionTableError `too_many` for more than 64 sessions.
   */
  addSessions(specs: readonly SessionSpec[]): AddOutcome {
    if (specs.length > MAX_SESSIONS_PER_STREAM) {
      throw new SessionTableError("too_many", `AddSession: at most ${MAX_SESSIONS_PER_STREAM} sessions per stream, got ${specs.length}`);
    }
    const now = this.nowMs();
    const errors: AddError[] = [];
    let errorBits = 0n;
    const fail = (index: number, e: Omit<AddError, "index" | "id">) => {
      errors.push({ index, id: specs[index]!.id, ...e });
      errorBits |= 1n << BigInt(index);
    };
    if (this.entries.size + specs.length > this.config.capacity) {
      const detail = `table: ${this.entries.size} of ${this.config.capacity} entries used, no room for ${specs.length}`;
      specs.forEach((_, i) => fail(i, { code: AddStatus.TABLE_FULL, reason: "table_full", detail }));
      return { status: AddStatus.TABLE_FULL, errorBits, startMs: now, errors, accepted: 0 };
    }
    let accepted = 0;
    let invalid = false;
    specs.forEach((spec, i) => {
      const v = validateSession(spec);
      if (!v.ok) {
        invalid = true;
        fail(i, { code: AddStatus.REJECTED, reason: "invalid", detail: v.detail });
        return;
      }
      if (this.byKey.has(v.id.key)) {
        fail(i, { code: AddStatus.ALREADY_EXISTS, reason: "duplicate_id", detail: `session_id: "${spec.id}" already exists` });
        return;
      }
      const tuple = tupleKey(spec);
      if (this.config.tupleDedup && this.byTuple.has(tuple)) {
        const other = this.byTuple.get(tuple)!;
        fail(i, { code: AddStatus.ALREADY_EXISTS, reason: "duplicate_tuple", detail: `7-tuple: already used by session "${other.id}"` });
        return;
      }
      this.insert(spec, v.id.key, v.id.numeric, tuple, now);
      accepted++;
    });
    const status = invalid ? AddStatus.REJECTED : errors.length > 0 ? AddStatus.ALREADY_EXISTS : AddStatus.ACCEPTED;
    return { status, errorBits, startMs: now, errors, accepted };
  }

  /**
   * The session a numeric id names (reference §2.9).
   *
   * @throws SessionTableError `not_found`, or `ambiguous` when several sessions share the number.
   */
  get(numericId: bigint): SessionView {
    return view(this.lookup(numericId));
  }

  /**
   * Removes the session a numeric id names and returns its final counters. A session still open
   * is reported `_CLOSED` with `_UNKNOWN_CLOSE_CODE` (the client ended it; no close code fits)
   * and `endtime` = now; a closed one keeps its own close code and end time.
   *
   * @throws SessionTableError as {@link get}.
   */
  delete(numericId: bigint): SessionView {
    const e = this.lookup(numericId);
    this.remove(e);
    const v = view(e);
    if (v.state !== State.CLOSED) {
      v.state = State.CLOSED;
      v.closeCode = CloseCode.UNKNOWN;
      v.endMs = this.nowMs();
    }
    return v;
  }

  /**
   * OPI GetAllSession: sessions in insertion order, filtered by id and state, at most
   * `maxPageSize` from `startKey`; `nextKey` names the next matching session (0 = none).
   */
  listOpi(args: OpiListArgs): SessionPage {
    const limit = this.config.maxPageSize;
    if (!isZeroSessionId(args.id)) {
      const parsed = parseSessionId(args.id);
      const e = parsed && this.byKey.get(parsed.key);
      const hit = e && (args.state === 0 || e.state === args.state) && BigInt(e.seq) >= args.startKey;
      return { sessions: hit ? [view(e)] : [], nextKey: 0n };
    }
    const sessions: SessionView[] = [];
    for (const e of this.entries.values()) {
      if (BigInt(e.seq) < args.startKey) continue;
      if (args.state !== 0 && e.state !== args.state) continue;
      if (sessions.length === limit) return { sessions, nextKey: BigInt(e.seq) };
      sessions.push(view(e));
    }
    return { sessions, nextKey: 0n };
  }

  /**
   * openoffload.v1 getAllSessions (reference offload-frostfs.md §2.4, openoffload-v1-interface.md §6):
   * - `pageSize > 0` and `page > 0`: the reference simulator's page, items
   *   `[(page−1)·pageSize, page·pageSize)` in table order;
   * - `startSession` other than 0, 0xFFFFFFFF or 2^64−1: the C client's cursor, ids greater than it
   *   in ascending order, at most min(pageSize or 64, 64);
   * - `startSession` 0xFFFFFFFF or 2^64−1: the cursor from the start;
   * - otherwise (all zero): the whole table, as the reference simulator answers `{0, 0}`.
   * `nextKey` is the numeric id of the last session returned (0 when none).
   */
  listV1(args: V1ListArgs): SessionPage {
    let sessions: SessionView[];
    if (args.pageSize > 0 && args.page > 0) {
      const from = (args.page - 1) * args.pageSize;
      sessions = [];
      let i = 0;
      for (const e of this.entries.values()) {
        if (i >= from + args.pageSize) break;
        if (i++ >= from) sessions.push(view(e));
      }
    } else if (args.startSession !== 0n) {
      const limit = Math.min(args.pageSize || V1_CURSOR_PAGE_MAX, V1_CURSOR_PAGE_MAX);
      const from = CURSOR_START.has(args.startSession) ? 0 : this.firstAbove(args.startSession);
      sessions = this.sorted.slice(from, from + limit).map(view);
    } else {
      sessions = [...this.entries.values()].map(view);
    }
    return { sessions, nextKey: sessions.at(-1)?.numericId ?? 0n };
  }

  /**
   * Removes and returns CLOSED sessions in table order, at most `limit` (0 = all): the destructive
   * drain of getClosedSessions. An empty result is normal.
   */
  drainClosed(limit = 0): SessionView[] {
    const out: SessionView[] = [];
    for (const e of this.entries.values()) {
      if (limit > 0 && out.length === limit) break;
      if (e.state !== State.CLOSED) continue;
      this.remove(e);
      out.push(view(e));
    }
    return out;
  }

  /**
   * Runs the traffic model up to the clock's current time, one tick at a time: active sessions
   * move their counters (or start closing, get reset, or go idle), closing sessions step through
   * CLOSING_1 and CLOSING_2 to CLOSED/_FINACK, and idle ones age out with _TIMEOUT after their
   * cache timeout. Sessions are visited in insertion order, so the outcome depends only on the
   * seed and the sequence of calls.
   */
  advance(): AdvanceOutcome {
    const now = this.nowMs();
    const out: AdvanceOutcome = { ticks: 0, closed: { finack: 0, rst: 0, timeout: 0 }, skippedTicks: 0 };
    const tickMs = this.config.traffic.tickMs;
    const behind = Math.floor((now - this.nextTickMs) / tickMs) + 1;
    if (behind > this.config.maxCatchUpTicks) {
      const skip = behind - this.config.maxCatchUpTicks;
      this.nextTickMs += skip * tickMs;
      out.skippedTicks = skip;
    }
    while (this.nextTickMs <= now) {
      this.tick(this.nextTickMs, out);
      this.nextTickMs += tickMs;
      out.ticks++;
    }
    return out;
  }

  private tick(t: number, out: AdvanceOutcome): void {
    const { random } = this.deps;
    const { bytesPerPacket } = this.config.traffic;
    const dt = this.config.traffic.tickMs / 1000;
    const packets = (e: Entry, inPkts: number, outPkts: number) => {
      const size = random.int(bytesPerPacket[0], bytesPerPacket[1]);
      e.inPackets += inPkts;
      e.outPackets += outPkts;
      e.inBytes += inPkts * size;
      e.outBytes += outPkts * size;
      if (inPkts + outPkts > 0) e.lastActivityMs = t;
    };
    const close = (e: Entry, code: number, endMs: number) => {
      e.state = State.CLOSED;
      e.closeCode = code;
      e.endMs = endMs;
      e.phase = "done";
    };
    for (const e of this.entries.values()) {
      if (e.startMs >= t) continue;
      switch (e.phase) {
        case "done":
          break;
        case "closing_1":
          packets(e, 1, 1);
          e.state = State.CLOSING_2;
          e.phase = "closing_2";
          break;
        case "closing_2":
          packets(e, 1, 1);
          close(e, CloseCode.FINACK, t);
          out.closed.finack++;
          break;
        case "idle":
          break;
        case "active": {
          const r = random.next();
          const tcp = e.spec.protocol === Protocol.TCP;
          const { fin, rst, idle } = this.tickProb;
          if (tcp && r < fin) {
            packets(e, 1, 1);
            e.state = State.CLOSING_1;
            e.phase = "closing_1";
          } else if (tcp && r < fin + rst) {
            packets(e, 1, 0);
            close(e, CloseCode.RST, t);
            out.closed.rst++;
          } else if (r < (tcp ? fin + rst : 0) + idle) {
            e.phase = "idle";
          } else {
            packets(e, scale(e.inPps * dt, random), scale(e.outPps * dt, random));
          }
          break;
        }
      }
      // Aging: an open session that has sent nothing for its cache timeout is removed from the
      // fast path and reported closed (reference §2.7). Idle sessions, and active ones whose
      // drawn rate is 0, end here.
      if ((e.phase === "idle" || e.phase === "active") && t - e.lastActivityMs >= e.timeoutMs) {
        close(e, CloseCode.TIMEOUT, e.lastActivityMs + e.timeoutMs);
        out.closed.timeout++;
      }
    }
  }

  /** Index in `sorted` of the first entry whose numeric id is greater than `id`. */
  private firstAbove(id: bigint): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]!.numericId <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private lookup(numericId: bigint): Entry {
    const list = this.byNumeric.get(numericId);
    if (!list || list.length === 0) throw new SessionTableError("not_found", `session ${numericId}: not found`);
    if (list.length > 1) {
      throw new SessionTableError("ambiguous", `session ${numericId}: ambiguous id, ${list.length} sessions map to it (${list.map((e) => `"${e.id}"`).join(", ")})`);
    }
    return list[0]!;
  }

  private insert(spec: SessionSpec, key: string, numericId: bigint, tuple: string, now: number): void {
    const { random } = this.deps;
    const { packetsPerSec } = this.config.traffic;
    const requested = spec.cacheTimeoutSec === 0 ? this.config.defaultCacheTimeoutSec : spec.cacheTimeoutSec;
    const e: Entry = {
      seq: this.nextSeq++,
      id: spec.id,
      key,
      numericId,
      tuple,
      spec: copySpec(spec),
      timeoutMs: Math.min(requested, this.config.maxCacheTimeoutSec) * 1000,
      inPps: random.int(packetsPerSec[0], packetsPerSec[1]),
      outPps: random.int(packetsPerSec[0], packetsPerSec[1]),
      inPackets: 0,
      outPackets: 0,
      inBytes: 0,
      outBytes: 0,
      state: State.ESTABLISHED,
      closeCode: CloseCode.NOT_CLOSED,
      startMs: now,
      endMs: undefined,
      lastActivityMs: now,
      phase: "active",
    };
    this.entries.set(e.seq, e);
    this.byKey.set(key, e);
    if (!this.byTuple.has(tuple)) this.byTuple.set(tuple, e);
    const list = this.byNumeric.get(numericId);
    if (list) list.push(e);
    else this.byNumeric.set(numericId, [e]);
    // A new entry has the largest seq, so it goes after every entry with the same numeric id.
    this.sorted.splice(this.firstAbove(numericId), 0, e);
  }

  private remove(e: Entry): void {
    this.entries.delete(e.seq);
    this.byKey.delete(e.key);
    if (this.byTuple.get(e.tuple) === e) this.byTuple.delete(e.tuple);
    const list = this.byNumeric.get(e.numericId)?.filter((x) => x !== e) ?? [];
    if (list.length > 0) this.byNumeric.set(e.numericId, list);
    else this.byNumeric.delete(e.numericId);
    const end = this.firstAbove(e.numericId);
    for (let i = end - 1; i >= 0 && this.sorted[i]!.numericId === e.numericId; i--) {
      if (this.sorted[i] === e) {
        this.sorted.splice(i, 1);
        break;
      }
    }
  }

  private nowMs(): number {
    return Math.round(this.deps.clock.nowSec() * 1000);
  }
}

/** Packets for one tick at an expected count `n`: n·[0.5, 1.5), at least 1 when n > 0. */
function scale(n: number, random: Random): number {
  if (n <= 0) return 0;
  return Math.max(1, Math.floor(n * (0.5 + random.next())));
}

function view(e: Entry): SessionView {
  return {
    id: e.id,
    numericId: e.numericId,
    inPackets: e.inPackets,
    outPackets: e.outPackets,
    inBytes: e.inBytes,
    outBytes: e.outBytes,
    state: e.state,
    closeCode: e.closeCode,
    startMs: e.startMs,
    endMs: e.endMs,
  };
}

function copyAction(a: ActionSpec): ActionSpec {
  return {
    ...a,
    nextHopV6: a.nextHopV6.slice(),
    proxySrcV6: a.proxySrcV6.slice(),
    proxyDstV6: a.proxyDstV6.slice(),
    srcConnId: a.srcConnId.slice(),
    dstConnId: a.dstConnId.slice(),
  };
}

/** Copies the byte fields, which may be views into a whole decoded request buffer. */
function copySpec(s: SessionSpec): SessionSpec {
  return {
    ...s,
    sourceIpV6: s.sourceIpV6.slice(),
    destinationIpV6: s.destinationIpV6.slice(),
    srcConnId: s.srcConnId.slice(),
    dstConnId: s.dstConnId.slice(),
    action: copyAction(s.action),
  };
}
