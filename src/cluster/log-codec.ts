/**
 * The log entry format (DESIGN §9): one JetStream message carries a batch of FlowUpdates received
 * from many connections, each with its reporting node, under one receive time. Encoding is a copy
 * of the bytes the fast lane already has (no protobuf work); decoding hands out views.
 *
 * Version 1, little-endian:
 *   u8 version (1) · f64 receive time (Unix ms) · u16 node count · per node: u16 length + UTF-8
 *   then records to the end: u16 node index · u32 length · the encoded goldmane.FlowUpdate
 *
 * A batch with no records is a time mark: it only moves the replicas' log clock forward.
 */
export const LOG_FORMAT_VERSION = 1;

/** Thrown for bytes that are not a log entry of a known version. */
export class LogEntryError extends Error {}

/** Collects records into one entry; `seal` returns its bytes and resets the writer. */
export class LogBatchWriter {
  private body = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  private nodes = new Map<string, number>();
  private nodeList: string[] = [];
  /** Records written since the last seal. */
  count = 0;

  /** Bytes of the records written so far (without the header). */
  get bodyBytes(): number {
    return this.len;
  }

  /** Appends one encoded FlowUpdate `bytes[start, end)` reported by `node`. */
  add(node: string, bytes: Uint8Array, start: number, end: number): void {
    let idx = this.nodes.get(node);
    if (idx === undefined) {
      if (this.nodeList.length === 0xffff) throw new LogEntryError("too many nodes in one log entry");
      idx = this.nodeList.length;
      this.nodes.set(node, idx);
      this.nodeList.push(node);
    }
    const n = end - start;
    this.reserve(6 + n);
    const b = this.body;
    b.writeUInt16LE(idx, this.len);
    b.writeUInt32LE(n, this.len + 2);
    b.set(bytes.subarray(start, end), this.len + 6);
    this.len += 6 + n;
    this.count++;
  }

  /** The entry's bytes with receive time `timeMs`; the writer is empty afterwards. */
  seal(timeMs: number): Buffer {
    const names = this.nodeList.map((n) => Buffer.from(n, "utf8"));
    let headLen = 1 + 8 + 2;
    for (const n of names) headLen += 2 + n.length;
    const out = Buffer.allocUnsafe(headLen + this.len);
    out[0] = LOG_FORMAT_VERSION;
    out.writeDoubleLE(timeMs, 1);
    out.writeUInt16LE(names.length, 9);
    let pos = 11;
    for (const n of names) {
      out.writeUInt16LE(n.length, pos);
      n.copy(out, pos + 2);
      pos += 2 + n.length;
    }
    this.body.copy(out, pos, 0, this.len);
    this.len = 0;
    this.count = 0;
    this.nodes.clear();
    this.nodeList = [];
    return out;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.body.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.body.length * 2, this.len + n));
    this.body.copy(grown, 0, 0, this.len);
    this.body = grown;
  }
}

/** A view of one record: the FlowUpdate is `bytes[start, end)`. */
export type LogRecordVisitor = (node: string, bytes: Uint8Array, start: number, end: number) => void;

const asBuffer = (entry: Uint8Array) => (Buffer.isBuffer(entry) ? entry : Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength));

function checkHead(b: Buffer): void {
  if (b.length < 11) throw new LogEntryError("log entry too short");
  if (b[0] !== LOG_FORMAT_VERSION) throw new LogEntryError(`unknown log entry version ${b[0]}`);
}

/** The receive time (Unix ms) of an entry. Throws {@link LogEntryError} for a malformed one. */
export function logEntryTimeMs(entry: Uint8Array): number {
  const b = asBuffer(entry);
  checkHead(b);
  return b.readDoubleLE(1);
}

/**
 * Node names already decoded, by their bytes. Every entry carries its own node table, and a
 * replica sees the same nodes in entry after entry: decoding each table anew was a string per
 * update, a third of what a replica's apply allocated. Bounded: cleared when full.
 */
export class NodeNameCache {
  private readonly byHash = new Map<number, { bytes: Uint8Array; name: string }>();

  constructor(private readonly maxNames = 1 << 16) {}

  /** The UTF-8 name in `b[start, end)`. */
  name(b: Buffer, start: number, end: number): string {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    const hit = this.byHash.get(h);
    if (hit !== undefined && sameBytes(hit.bytes, b, start, end)) return hit.name;
    const name = b.toString("utf8", start, end);
    if (this.byHash.size >= this.maxNames) this.byHash.clear();
    // A copy: a view would keep the whole entry alive.
    this.byHash.set(h, { bytes: new Uint8Array(b.subarray(start, end)), name });
    return name;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[start + i]) return false;
  return true;
}

/**
 * Reads an entry: calls `visit` for every record in order and returns how many there were.
 * Throws {@link LogEntryError} for a malformed entry (before visiting anything). Names come from
 * `names` when given (a replica keeps one for all its entries).
 */
export function readLogEntry(entry: Uint8Array, visit: LogRecordVisitor, names?: NodeNameCache): number {
  const b = asBuffer(entry);
  checkHead(b);
  const count = b.readUInt16LE(9);
  const nodes = new Array<string>(count);
  let pos = 11;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > b.length) throw new LogEntryError("log entry truncated in its node table");
    const n = b.readUInt16LE(pos);
    if (pos + 2 + n > b.length) throw new LogEntryError("log entry truncated in its node table");
    nodes[i] = names ? names.name(b, pos + 2, pos + 2 + n) : b.toString("utf8", pos + 2, pos + 2 + n);
    pos += 2 + n;
  }
  // Validate the framing first, so a bad entry is applied wholly or not at all.
  for (let p = pos; p < b.length; ) {
    if (p + 6 > b.length) throw new LogEntryError("log entry truncated in a record header");
    const idx = b.readUInt16LE(p);
    const n = b.readUInt32LE(p + 2);
    if (idx >= nodes.length || p + 6 + n > b.length) throw new LogEntryError("log entry record out of bounds");
    p += 6 + n;
  }
  let records = 0;
  while (pos < b.length) {
    const idx = b.readUInt16LE(pos);
    const n = b.readUInt32LE(pos + 2);
    visit(nodes[idx]!, b, pos + 6, pos + 6 + n);
    pos += 6 + n;
    records++;
  }
  return records;
}
