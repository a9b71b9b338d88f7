import { isClosed, type SessionSnapshot } from "./types.js";

/** What one session contributed to one poll interval. Counters are deltas (uint64, BigInt). */
export interface SessionDelta {
  id: string;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
  /** 1 when this interval saw the session (instance) start. */
  started: number;
  /** 1 when this interval saw it end (closed, drained, deleted, vanished or replaced). */
  completed: number;
  /** 1 when it is still open at the end of the interval. */
  live: number;
}

/** The result of one {@link SessionTracker.observe}. */
export interface PollOutcome {
  /** One entry per session that changed (a non-zero delta or a lifecycle event). */
  deltas: SessionDelta[];
  /** True for the first poll: baselines were recorded and nothing was emitted. */
  baseline: boolean;
  /** Sessions (instances) seen for the first time. */
  newSessions: number;
  /** New instances under a known id: `counter` = counters went down, `reuse` = start time changed. */
  resets: { counter: number; reuse: number };
  /** Sessions that disappeared while open without a final read: their last delta is lost (§3.2). */
  lostFinalDeltas: number;
  /** Open sessions at the end of the poll. */
  open: number;
}

interface Tracked {
  startSec: number | undefined;
  c: [bigint, bigint, bigint, bigint];
  /** Its completion has been counted (it was seen closed, or counted when it vanished). */
  completed: boolean;
}

interface Tombstone extends Tracked {
  expiresSec: number;
}

const counters = (s: SessionSnapshot): [bigint, bigint, bigint, bigint] => [s.inPackets, s.outPackets, s.inBytes, s.outBytes];
const anyDown = (now: readonly bigint[], before: readonly bigint[]) => now.some((v, i) => v < before[i]!);

/**
 * Per-device session state between polls (reference offload-frostfs.md §3.1–3.2). Pure: no I/O,
 * time comes in as arguments.
 *
 * - Deltas are `current − last seen` in BigInt, so uint64 counters never lose precision.
 * - A new instance under a known id — any counter went down (a reset), or the device start time
 *   changed (id reuse) — counts from zero and as a new start; the old instance counts as
 *   completed if it had not been, and its unseen final delta as lost.
 * - `started` is counted when a session is first seen after the baseline, `completed` once per
 *   instance: when first seen closed, when a final read (drain, delete) arrives, or when it
 *   vanishes between polls (then its last delta is lost and counted).
 * - A session that ends is kept as a tombstone (id + start time + final counters) for
 *   `tombstoneTtlSec`, so a closed session listed again (not yet drained, or a paging race) is not
 *   counted twice.
 * - The first poll only records baselines: counts accumulated before the bridge started are not
 *   emitted, so a bridge restart does not spike (device start times are not trusted for windows,
 *   §3.4, so sessions that started just before the first poll are baselined too).
 */
export class SessionTracker {
  private readonly sessions = new Map<string, Tracked>();
  private readonly tombstones = new Map<string, Tombstone>();
  private baselined = false;

  constructor(private readonly tombstoneTtlSec: number) {}

  /** Known ids that are not in `seen`: candidates for a GetSession before calling them vanished. */
  missing(seen: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const id of this.sessions.keys()) if (!seen.has(id)) out.push(id);
    return out;
  }

  /** Sessions currently tracked (open or closed and still listed). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Folds one successful poll in: `finals` are last reads of sessions that are gone from the
   * device (drained or deleted), `listed` the sessions it still holds. A known session in neither
   * has vanished. Call only for complete polls; a failed poll is simply not observed.
   */
  observe(nowSec: number, listed: readonly SessionSnapshot[], finals: readonly SessionSnapshot[] = []): PollOutcome {
    this.expire(nowSec);
    const out: PollOutcome = { deltas: [], baseline: !this.baselined, newSessions: 0, resets: { counter: 0, reuse: 0 }, lostFinalDeltas: 0, open: 0 };
    const seen = new Set<string>();
    for (const f of finals) {
      seen.add(f.id);
      this.apply(f, true, nowSec, out);
    }
    for (const s of listed) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      this.apply(s, false, nowSec, out);
    }
    for (const [id, t] of this.sessions) {
      if (seen.has(id)) continue;
      // Vanished between polls: deleted or aged out and drained by someone else.
      this.sessions.delete(id);
      this.bury(id, t, nowSec);
      if (!t.completed) {
        out.lostFinalDeltas++;
        if (!out.baseline) out.deltas.push({ id, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, started: 0, completed: 1, live: 0 });
      }
    }
    for (const t of this.sessions.values()) if (!t.completed) out.open++;
    this.baselined = true;
    return out;
  }

  private apply(s: SessionSnapshot, final: boolean, nowSec: number, out: PollOutcome): void {
    const c = counters(s);
    const closed = final || isClosed(s);
    let prev = this.sessions.get(s.id);
    if (!prev) {
      const tomb = this.tombstones.get(tombKey(s.id, s.startSec));
      if (tomb && !anyDown(c, tomb.c)) {
        // The same instance again (listed while closed, or a paging race): resume, never recount.
        this.tombstones.delete(tombKey(s.id, s.startSec));
        prev = { startSec: tomb.startSec, c: tomb.c, completed: true };
      }
    }
    const delta: SessionDelta = { id: s.id, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, started: 0, completed: 0, live: closed ? 0 : 1 };
    let base: readonly bigint[];
    let completedBefore: boolean;
    if (!prev) {
      out.newSessions++;
      delta.started = 1;
      base = [0n, 0n, 0n, 0n];
      completedBefore = false;
    } else if (s.startSec !== prev.startSec || anyDown(c, prev.c)) {
      if (s.startSec !== prev.startSec) out.resets.reuse++;
      else out.resets.counter++;
      out.newSessions++;
      if (!prev.completed) {
        // The old instance ended without a final read.
        out.lostFinalDeltas++;
        delta.completed++;
      }
      delta.started = 1;
      base = [0n, 0n, 0n, 0n];
      completedBefore = false;
    } else {
      base = prev.c;
      completedBefore = prev.completed;
    }
    [delta.inPackets, delta.outPackets, delta.inBytes, delta.outBytes] = [c[0] - base[0]!, c[1] - base[1]!, c[2] - base[2]!, c[3] - base[3]!];
    if (closed && !completedBefore) delta.completed++;
    const tracked: Tracked = { startSec: s.startSec, c, completed: closed || completedBefore };
    if (final) {
      this.sessions.delete(s.id);
      this.bury(s.id, tracked, nowSec);
    } else this.sessions.set(s.id, tracked);
    if (!this.baselined) return;
    const changed = delta.inPackets | delta.outPackets | delta.inBytes | delta.outBytes;
    if (changed !== 0n || delta.started || delta.completed) out.deltas.push(delta);
  }

  private bury(id: string, t: Tracked, nowSec: number): void {
    this.tombstones.set(tombKey(id, t.startSec), { ...t, completed: true, expiresSec: nowSec + this.tombstoneTtlSec });
  }

  private expire(nowSec: number): void {
    for (const [k, t] of this.tombstones) if (t.expiresSec <= nowSec) this.tombstones.delete(k);
  }
}

const tombKey = (id: string, startSec: number | undefined) => `${id}@${startSec ?? "-"}`;
