/** Thrown for bytes that are not a valid protobuf encoding. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

const TWO_32 = 4294967296;

/**
 * A protobuf wire reader over one buffer, shared by the FlowUpdate decoder and the fast lane's
 * scanner. Positions are absolute; `end` bounds the current message. `reset` lets a hot loop keep
 * one instance instead of allocating a reader per message.
 */
export class WireReader {
  pos = 0;
  /** High 32 bits of the last varint64 read (unsigned), for range checks. */
  hi = 0;
  /** Low 32 bits of the last varint64 read (unsigned). */
  lo = 0;
  buf: Uint8Array = new Uint8Array(0);

  /** Points the reader at `buf`, at `pos`. */
  reset(buf: Uint8Array, pos: number): this {
    this.buf = buf;
    this.pos = pos;
    return this;
  }

  /** Reads a varint into lo/hi (up to 10 bytes). */
  varint64(end: number): void {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    let byte: number;
    // Low 28 bits.
    for (; shift < 28; shift += 7) {
      if (this.pos >= end) throw new DecodeError("truncated varint");
      byte = b[this.pos++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    // Byte 5: 4 bits to lo, 3 bits to hi.
    if (this.pos >= end) throw new DecodeError("truncated varint");
    byte = b[this.pos++]!;
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x7f) >> 4;
    if (byte < 0x80) {
      this.lo = lo >>> 0;
      this.hi = hi >>> 0;
      return;
    }
    for (shift = 3; shift <= 31; shift += 7) {
      if (this.pos >= end) throw new DecodeError("truncated varint");
      byte = b[this.pos++]!;
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new DecodeError("varint longer than 10 bytes");
  }

  /** int64 as a number, or null when it cannot be represented exactly (|v| > 2^53 − 1). */
  int64(end: number): number | null {
    this.varint64(end);
    const hi = this.hi;
    const lo = this.lo;
    if (hi & 0x80000000) {
      // Negative two's complement: value = −(2^64 − (hi·2^32 + lo)).
      const nlo = (~lo + 1) >>> 0;
      const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
      if (nhi >= 0x200000) return null;
      return -(nhi * TWO_32 + nlo);
    }
    if (hi >= 0x200000) return null;
    return hi * TWO_32 + lo;
  }

  /** int32/enum: the low 32 bits as a signed integer (as protobuf-es does). */
  int32(end: number): number {
    this.varint64(end);
    return this.lo | 0;
  }

  /** A length prefix; returns the end of the delimited region. */
  delimited(end: number): number {
    this.varint64(end);
    if (this.hi !== 0 || this.lo > end - this.pos) throw new DecodeError("length beyond end of message");
    return this.pos + this.lo;
  }

  string(end: number): string {
    const stop = this.delimited(end);
    const b = this.buf;
    let ascii = true;
    for (let i = this.pos; i < stop; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    const start = this.pos;
    this.pos = stop;
    if (ascii) return latin1(b, start, stop);
    return utf8.decode(b.subarray(start, stop));
  }

  /** Skips a field of the given wire type. */
  skip(wireType: number, fieldNo: number, end: number): void {
    switch (wireType) {
      case 0:
        this.varint64(end);
        return;
      case 1:
        if (end - this.pos < 8) throw new DecodeError("truncated fixed64");
        this.pos += 8;
        return;
      case 2:
        this.pos = this.delimited(end);
        return;
      case 5:
        if (end - this.pos < 4) throw new DecodeError("truncated fixed32");
        this.pos += 4;
        return;
      case 3: {
        // A group: skip fields until the matching end-group tag.
        for (;;) {
          if (this.pos >= end) throw new DecodeError("unterminated group");
          this.varint64(end);
          const tag = this.lo;
          const wt = tag & 7;
          const no = tag >>> 3;
          if (wt === 4) {
            if (no !== fieldNo) throw new DecodeError("mismatched end group");
            return;
          }
          this.skip(wt, no, end);
        }
      }
      default:
        throw new DecodeError(`invalid wire type ${wireType}`);
    }
  }
}

// Same decoder settings as protobuf-es (non-fatal, a leading U+FEFF is text).
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** The bytes as a latin1 string (signatures, ASCII text). */
export function latin1(b: Uint8Array, start: number, stop: number): string {
  const n = stop - start;
  if (n === 0) return "";
  if (n < 32) {
    let s = "";
    for (let i = start; i < stop; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  return Buffer.from(b.buffer, b.byteOffset + start, n).latin1Slice(0, n);
}

declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
  }
}

