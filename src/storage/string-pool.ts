/**
 * Reference-counted string interning. Keys share their name, namespace and label strings through
 * it (DESIGN §5), and release them when they expire, so a cluster whose pods churn does not grow
 * the pool forever.
 */
export class StringPool {
  private readonly entries = new Map<string, { value: string; refs: number }>();

  /** Returns the pooled instance equal to `s` and takes a reference on it. */
  acquire(s: string): string {
    const e = this.entries.get(s);
    if (e) {
      e.refs++;
      return e.value;
    }
    this.entries.set(s, { value: s, refs: 1 });
    return s;
  }

  /** Drops one reference taken by {@link acquire}. */
  release(s: string): void {
    const e = this.entries.get(s);
    if (!e) return;
    if (--e.refs === 0) this.entries.delete(s);
  }

  get size(): number {
    return this.entries.size;
  }
}
