import { grown } from "./grown.js";

/**
 * The set of exact signatures behind the fast lane's memo (DESIGN §6): each signature (the bytes
 * of an encoded FlowKey and its two label lists, model/flow-update-scan.ts) gets an entry number
 * that the store's memo columns are indexed by.
 *
 * A signature used to be a ~450-byte string per update and the key of a Map: every update
 * allocated one (a fifth of a replica's apply time went to GC), V8 hashed it, and a hit compared
 * it with the stored string. Here the signatures live as 32-bit words in an arena of 1 MiB chunks
 * (growth never copies, and wastes less than one signature per chunk), the scanner hashes the
 * words it has just written, and a lookup compares words in place: nothing is allocated per
 * update, and the arena counts as ArrayBuffer memory like the store's columns.
 *
 * Open addressing with linear probing. Equality is always checked on every word, so a hash
 * collision costs a probe, never a wrong answer. An insert whose probe run would exceed
 * {@link MAX_PROBE} is refused (the flow then takes the full decode every time): crafted colliding
 * keys cannot make every lookup slow.
 */
export class SignatureMemo {
  /** Table cells: 0 empty, -1 deleted, e + 1 for entry e. */
  private table = new Int32Array(1024);
  private mask = 1023;
  /** Cells not empty (live + deleted): the table is rebuilt before it is half full. */
  private usedCells = 0;
  private live = 0;

  /** The signatures' words, entry after entry, in chunks of {@link CHUNK_WORDS}. */
  private chunks: Int32Array[] = [];
  /** Words used in the last chunk. */
  private fill = CHUNK_WORDS;
  private liveWords = 0;
  /** Words of deleted entries still in the chunks (compacted away when they outweigh the live). */
  private deadWords = 0;

  private entryChunk = new Int32Array(0);
  private entryOffset = new Int32Array(0);
  private entryLength = new Int32Array(0);
  private entryHash = new Int32Array(0);
  private free: number[] = [];
  private high = 0;

  /** Live signatures. */
  get size(): number {
    return this.live;
  }

  /** Entry numbers are below this (for columns kept in parallel). */
  get entryCapacity(): number {
    return this.entryOffset.length;
  }

  /** The entry of the signature `words` (`length` bytes, zero-padded to whole words), or -1. */
  find(words: Int32Array, length: number, hash: number): number {
    const table = this.table;
    const mask = this.mask;
    const n = (length + 3) >>> 2;
    let i = hash & mask;
    for (let probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & mask) {
      const cell = table[i]!;
      if (cell === 0) return -1;
      if (cell < 0) continue;
      const e = cell - 1;
      if (this.entryHash[e] !== hash || this.entryLength[e] !== length) continue;
      const arena = this.chunks[this.entryChunk[e]!]!;
      let at = this.entryOffset[e]!;
      let k = 0;
      while (k < n && arena[at] === words[k]) {
        at++;
        k++;
      }
      if (k === n) return e;
    }
    return -1;
  }

  /**
   * Adds a signature that {@link find} did not find; returns its entry, or -1 when its probe run
   * would be too long (it is then not remembered).
   */
  insert(words: Int32Array, length: number, hash: number): number {
    if (2 * (this.usedCells + 1) > this.table.length) this.rebuildTable();
    const table = this.table;
    const mask = this.mask;
    let i = hash & mask;
    let probe = 0;
    while (table[i]! > 0) {
      if (++probe === MAX_PROBE) return -1;
      i = (i + 1) & mask;
    }
    const n = (length + 3) >>> 2;
    if (this.deadWords > this.liveWords && this.deadWords > CHUNK_WORDS) this.compact();
    let e = this.free.pop();
    if (e === undefined) {
      if (this.high === this.entryOffset.length) this.growEntries();
      e = this.high++;
    }
    this.place(e, words, n);
    this.entryLength[e] = length;
    this.entryHash[e] = hash;
    this.liveWords += n;
    if (table[i] === 0) this.usedCells++;
    table[i] = e + 1;
    this.live++;
    return e;
  }

  /** Forgets entry `e` (its number may be handed out again). */
  delete(e: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = this.entryHash[e]! & mask;
    for (let probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & mask) {
      if (table[i] === e + 1) {
        table[i] = -1;
        this.forget(e);
        return;
      }
    }
  }

  clear(): void {
    this.table = new Int32Array(1024);
    this.mask = 1023;
    this.usedCells = 0;
    this.live = 0;
    this.chunks = [];
    this.fill = CHUNK_WORDS;
    this.liveWords = 0;
    this.deadWords = 0;
    this.entryChunk = new Int32Array(0);
    this.entryOffset = new Int32Array(0);
    this.entryLength = new Int32Array(0);
    this.entryHash = new Int32Array(0);
    this.free = [];
    this.high = 0;
  }

  /** Frees entry `e`: its number goes back to the free list, its words become arena garbage. */
  private forget(e: number): void {
    const n = (this.entryLength[e]! + 3) >>> 2;
    this.deadWords += n;
    this.liveWords -= n;
    this.entryLength[e] = -1;
    this.free.push(e);
    this.live--;
  }

  /** A table sized for the live entries (deleted cells dropped), at most a quarter full. */
  private rebuildTable(): void {
    let cap = 1024;
    while (cap < 4 * (this.live + 1)) cap *= 2;
    const table = new Int32Array(cap);
    const mask = cap - 1;
    for (let e = 0; e < this.high; e++) {
      if (this.entryLength[e]! < 0) continue;
      let i = this.entryHash[e]! & mask;
      let probe = 0;
      while (table[i] !== 0 && probe < MAX_PROBE) {
        i = (i + 1) & mask;
        probe++;
      }
      if (probe === MAX_PROBE) {
        // Beyond the reach of a lookup: forgotten, like an insert refused for the same reason.
        this.forget(e);
        continue;
      }
      table[i] = e + 1;
    }
    this.table = table;
    this.mask = mask;
    this.usedCells = this.live;
  }

  /** Writes entry `e`'s `n` words at the end of the arena (a new chunk when the last is full). */
  private place(e: number, words: Int32Array, n: number): void {
    if (n > CHUNK_WORDS) {
      // A signature larger than a chunk (huge label lists) gets a chunk of its own.
      this.chunks.push(new Int32Array(n));
      this.entryChunk[e] = this.chunks.length - 1;
      this.entryOffset[e] = 0;
      this.chunks[this.chunks.length - 1]!.set(words.subarray(0, n));
      this.fill = CHUNK_WORDS;
      return;
    }
    if (this.fill + n > CHUNK_WORDS) {
      this.chunks.push(new Int32Array(CHUNK_WORDS));
      this.fill = 0;
    }
    const chunk = this.chunks.length - 1;
    this.chunks[chunk]!.set(words.subarray(0, n), this.fill);
    this.entryChunk[e] = chunk;
    this.entryOffset[e] = this.fill;
    this.fill += n;
  }

  /** Copies the live signatures into fresh chunks, dropping the words of deleted ones. */
  private compact(): void {
    const old = this.chunks;
    this.chunks = [];
    this.fill = CHUNK_WORDS;
    for (let e = 0; e < this.high; e++) {
      const len = this.entryLength[e]!;
      if (len < 0) continue;
      const n = (len + 3) >>> 2;
      const from = this.entryOffset[e]!;
      this.place(e, old[this.entryChunk[e]!]!.subarray(from, from + n), n);
    }
    this.deadWords = 0;
  }

  private growEntries(): void {
    const cap = Math.max(1024, this.entryOffset.length * 2);
    this.entryChunk = grown(this.entryChunk, cap);
    this.entryOffset = grown(this.entryOffset, cap);
    this.entryLength = grown(this.entryLength, cap);
    this.entryHash = grown(this.entryHash, cap);
  }
}

/** Longest probe run of a lookup or an insert. */
export const MAX_PROBE = 64;

/** Words per arena chunk (1 MiB). */
const CHUNK_WORDS = 256 * 1024;
