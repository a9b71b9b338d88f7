/** How long an unused answer buffer is kept before it is let go. */
const IDLE_MS = 60_000;

/**
 * One reusable buffer for large answers (issue 15). An unpaged List at 100 000 keys is ~40 MB,
 * and fresh memory of that size costs page faults and garbage collection on every call (~300 ms
 * of an 800 ms call on the 2-core VM of BENCHMARKS.md); whisker-backend asks for it every few
 * seconds. An answer is encoded into the buffer the previous one was written from, once that
 * write is over. One buffer, not a pool: a second answer while the first is being written gets
 * fresh memory as before. Unused for a minute, the buffer is dropped, so a pod at rest does not
 * keep the largest answer it ever sent.
 */
export class AnswerBuffer {
  private kept: Uint8Array | undefined;
  private idle: NodeJS.Timeout | undefined;

  /** The kept buffer, now the caller's until it {@link give}s one back; undefined if none is free. */
  take(): Uint8Array | undefined {
    const b = this.kept;
    this.kept = undefined;
    return b;
  }

  /** Hands back a buffer nothing reads or writes any more (the larger of two is kept). */
  give(b: Uint8Array): void {
    if (this.kept !== undefined && this.kept.length >= b.length) return;
    this.kept = b;
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      this.kept = undefined;
      this.idle = undefined;
    }, IDLE_MS);
    this.idle.unref();
  }

  /** Bytes held for reuse (0 when none). */
  get heldBytes(): number {
    return this.kept?.length ?? 0;
  }
}
