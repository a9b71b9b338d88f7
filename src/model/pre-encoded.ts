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
  private buf = new Uint8Array(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
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
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
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
  packedField(field: number, xs: readonly number[]): this {
    if (xs.length === 0) return this;
    let size = 0;
    let simple = true;
    for (let i = 0; i < xs.length; i++) {
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
      for (const v of xs) inner.int64(v);
      return this.messageField(field, inner.finish());
    }
    this.tag(field, WIRE_LEN).uvarint(size);
    this.ensure(size);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < xs.length; i++) {
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

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Unknown-field entries (protobuf-es `$unknown`) for the top-level fields of encoded bytes. */
function unknownFields(bytes: Uint8Array): { no: number; wireType: number; data: Uint8Array }[] {
  const out: { no: number; wireType: number; data: Uint8Array }[] = [];
  let pos = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = bytes[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const no = Math.floor(tag / 8);
    const wireType = tag % 8;
    const start = pos;
    if (wireType === WIRE_VARINT) varint();
    else if (wireType === WIRE_LEN) {
      const len = varint();
      pos += len;
    } else throw new Error(`pre-encoded message: unexpected wire type ${wireType}`);
    // protobuf-es keeps a LEN field's data with its length prefix, a varint's as its bytes.
    out.push({ no, wireType, data: bytes.subarray(start, pos) });
  }
  return out;
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
