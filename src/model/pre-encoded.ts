import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

/**
 * Pre-encoded protobuf messages for hot response paths (DESIGN §5): a result is encoded once,
 * from plain numbers and strings, with no bigint per value, and handed to Connect as a message
 * whose fields are all "unknown fields". protobuf-es writes unknown fields verbatim, so the bytes
 * on the wire are exactly those of the real message — but only for the binary codecs: callers
 * must use the ordinary message for JSON (see {@link wantsBinary}).
 *
 * Used where one result goes to many readers (a stream batch fanned out to every stream) or where
 * a response holds very many int64 values (Statistics time series).
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** A growable byte buffer with the few protobuf writes the encoders need. */
export class WireWriter {
  private buf: Uint8Array;
  private pos = 0;
  /** Positions of the one-byte length slots of the messages opened by {@link begin}. */
  private readonly open: number[] = [];

  /**
   * @param reuse a buffer to write into instead of a new one (its old contents are overwritten
   *   before they are read): fresh memory of a large answer's size costs page faults every call.
   */
  constructor(initialSize = 256, reuse?: Uint8Array) {
    this.buf = reuse !== undefined && reuse.length > 0 ? reuse : new Uint8Array(initialSize);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    this.resize(cap);
  }

  private resize(cap: number): void {
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** An unsigned varint of a non-negative safe integer. */
  uvarint(v: number): this {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** An int64/int32/enum varint: negative values take ten bytes (two's complement). */
  int64(v: number): this {
    if (v >= 0) return this.uvarint(v);
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.uvarint(field * 8 + wire);
  }

  bytes(b: Uint8Array): this {
    const n = b.length;
    this.ensure(n);
    // Names, labels and policy strings are short: a plain loop beats TypedArray#set's call cost.
    if (n <= 32) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = b[i]!;
      this.pos = p;
      return this;
    }
    this.buf.set(b, this.pos);
    this.pos += n;
    return this;
  }

  /** Field `field` as an int64/enum; proto3 omits zero. */
  int64Field(field: number, v: number): this {
    return v === 0 ? this : this.tag(field, WIRE_VARINT).int64(v);
  }

  /** Field `field` as a string; proto3 omits "". */
  stringField(field: number, s: string): this {
    if (s === "") return this;
    const b = Buffer.from(s, "utf8");
    return this.tag(field, WIRE_LEN).uvarint(b.length).bytes(b);
  }

  /** Field `field` as an embedded message or bytes (written even when empty). */
  messageField(field: number, b: Uint8Array): this {
    return this.tag(field, WIRE_LEN).uvarint(b.length).bytes(b);
  }

  /**
   * A packed repeated int64 field; omitted when empty. Sized first and written in place: a
   * Statistics time series is millions of values, most of them small.
   */
  packedField(field: number, xs: ArrayLike<number>): this {
    return this.packedStrided(field, xs, 0, 1, xs.length);
  }

  /**
   * A packed repeated int64 field of `count` values read from `xs` at `offset`, `offset + stride`,
   * … (one column of interleaved points, written without copying it out); omitted when empty.
   */
  packedStrided(field: number, xs: ArrayLike<number>, offset: number, stride: number, count: number): this {
    if (count === 0) return this;
    const end = offset + count * stride;
    let size = 0;
    let simple = true;
    for (let i = offset; i < end; i += stride) {
      const v = xs[i]!;
      if (v < 0x80 && v >= 0) size += 1;
      else if (v >= 0 && v < 0x10000000) size += v < 0x4000 ? 2 : v < 0x200000 ? 3 : 4;
      else {
        simple = false;
        break;
      }
    }
    if (!simple) {
      const inner = new WireWriter();
      for (let i = offset; i < end; i += stride) inner.int64(xs[i]!);
      return this.messageField(field, inner.finish());
    }
    this.tag(field, WIRE_LEN).uvarint(size);
    this.ensure(size);
    const b = this.buf;
    let p = this.pos;
    for (let i = offset; i < end; i += stride) {
      let v = xs[i]!;
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    }
    this.pos = p;
    return this;
  }

  /**
   * Opens an embedded message in field `field`, written in place: its length is patched in by
   * {@link end} (one byte reserved; longer lengths shift the content right), so nested messages
   * need no buffer of their own.
   */
  begin(field: number): this {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    this.open.push(this.pos);
    this.pos += 1;
    return this;
  }

  /** Closes the message opened by the matching {@link begin}. */
  end(): this {
    const at = this.open.pop()!;
    let len = this.pos - at - 1;
    const extra = len < 0x80 ? 0 : len < 0x4000 ? 1 : len < 0x200000 ? 2 : len < 0x10000000 ? 3 : 4;
    if (extra > 0) {
      this.ensure(extra);
      this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
      this.pos += extra;
    }
    let p = at;
    while (len >= 0x80) {
      this.buf[p++] = (len & 0x7f) | 0x80;
      len >>>= 7;
    }
    this.buf[p] = len;
    return this;
  }

  /** Field `field` as a string already encoded as UTF-8 (callers cache the bytes of repeated strings); proto3 omits "". */
  utf8Field(field: number, b: Uint8Array): this {
    if (b.length === 0) return this;
    return this.tag(field, WIRE_LEN).uvarint(b.length).bytes(b);
  }

  /**
   * Field `field` (1–15) as a string; proto3 omits "" unless `always` (repeated elements). ASCII
   * strings shorter than 128 characters — names, namespaces, labels, almost every value — are
   * copied char by char (no encoder call, no lookup); others are written from `utf8(s)` (callers
   * cache the bytes of repeated strings).
   */
  stringFast(field: number, s: string, always: boolean, utf8: (s: string) => Uint8Array): this {
    const n = s.length;
    if (n === 0) return always ? this.tag(field, WIRE_LEN).uvarint(0) : this;
    if (n < 0x80) {
      this.ensure(n + 2);
      const buf = this.buf;
      let p = this.pos;
      buf[p++] = field * 8 + WIRE_LEN;
      buf[p++] = n;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) return this.utf8Element(field, utf8(s));
        buf[p++] = c;
      }
      this.pos = p;
      return this;
    }
    return this.utf8Element(field, utf8(s));
  }

  /** Field `field` as a repeated string element (written even when empty). */
  utf8Element(field: number, b: Uint8Array): this {
    return this.tag(field, WIRE_LEN).uvarint(b.length).bytes(b);
  }

  /**
   * Makes room for exactly `n` more bytes now: one allocation of the size asked for, instead of
   * doublings that copy and overshoot (a 40 MB answer would get a 64 MB buffer).
   */
  reserve(n: number): this {
    if (this.pos + n > this.buf.length) this.resize(this.pos + n);
    return this;
  }

  /** Leaves `n` bytes for the caller to fill later, e.g. a gRPC frame header in front of the message. */
  gap(n: number): this {
    this.ensure(n);
    this.pos += n;
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** A copy of the bytes written (the writer's buffer may be larger). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** The bytes written, as a view of the writer's buffer (no copy: for one large result). */
  finishView(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * The unknown-field entries (protobuf-es `$unknown`) that make protobuf-es write `bytes` verbatim:
 * it writes each entry as its tag followed by its data, so one entry — the first field's tag, then
 * every byte after it — is enough, and a List of 100 000 rows is copied once instead of being cut
 * into 100 000 entries (issue 15). The entries are for writing only; nothing reads them.
 */
function unknownFields(bytes: Uint8Array): { no: number; wireType: number; data: Uint8Array }[] {
  if (bytes.length === 0) return [];
  let pos = 0;
  let tag = 0;
  let mul = 1;
  for (;;) {
    const b = bytes[pos++]!;
    tag += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 0x80;
  }
  const wireType = tag % 8;
  if (wireType !== WIRE_VARINT && wireType !== WIRE_LEN) throw new Error(`pre-encoded message: unexpected wire type ${wireType}`);
  return [{ no: Math.floor(tag / 8), wireType, data: bytes.subarray(pos) }];
}

/** A message of `schema` whose bytes on the binary wire are exactly `bytes`. */
export function preEncoded<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  const m = create(schema) as MessageShape<Desc> & { $unknown?: unknown };
  m.$unknown = unknownFields(bytes);
  return m;
}

/**
 * Whether a call uses a binary codec (gRPC, gRPC-web or Connect with protobuf); JSON callers must
 * get ordinary messages, because JSON has no place for unknown fields.
 */
export function wantsBinary(contentType: string | null): boolean {
  return contentType === null || !contentType.includes("json");
}
