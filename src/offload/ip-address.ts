/**
 * Address encodings of the OpenOffload wire (reference offload-frostfs.md §2.8,
 * openoffload-v1-interface.md §5).
 *
 * IPv4 fields (`sourceip`, `destinationip`, `actionnexthop`, `proxysrcv4`, …) are uint32 values
 * holding the four `inet_pton` bytes *as they sit in memory*. Every reference client and server
 * runs on little-endian hosts, so 10.0.0.1 travels as 0x0100000A (16777226): that reading is
 * `"le"`, our default. `"be"` is the numeric reading the release notes call "network byte order"
 * (10.0.0.1 → 167772161), for devices that do that instead. IPv6 fields are 16 raw bytes.
 */

/** How an IPv4 address is packed into a uint32. */
export type Ipv4ByteOrder = "le" | "be";

/** The four address bytes in network order for a dotted quad; throws on malformed text. */
export function ipv4ToBytes(text: string): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4) throw new RangeError(`IPv4 address: expected a.b.c.d, got "${text}"`);
  const bytes = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) throw new RangeError(`IPv4 address: bad octet in "${text}"`);
    bytes[i] = Number(p);
  });
  return bytes;
}

/** The uint32 wire value of an IPv4 address. */
export function ipv4ToWire(text: string, order: Ipv4ByteOrder = "le"): number {
  const b = ipv4ToBytes(text);
  const [b0, b1, b2, b3] = [b[0]!, b[1]!, b[2]!, b[3]!];
  return order === "le" ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0 : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
}

/** The four network-order address bytes of a uint32 wire value. */
export function ipv4WireToBytes(value: number, order: Ipv4ByteOrder = "le"): Uint8Array {
  const v = value >>> 0;
  const le = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return Uint8Array.from(order === "le" ? le : le.reverse());
}

/** The dotted quad of a uint32 wire value. */
export function ipv4FromWire(value: number, order: Ipv4ByteOrder = "le"): string {
  return Array.from(ipv4WireToBytes(value, order)).join(".");
}

/** The 16 bytes of an IPv6 address in text form (RFC 4291, including an embedded IPv4 tail). */
export function ipv6ToBytes(text: string): Uint8Array {
  const bad = () => new RangeError(`IPv6 address: malformed "${text}"`);
  let head = text;
  const tail: number[] = [];
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    const v4 = ipv4ToBytes(text.slice(lastColon + 1));
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    const prefix = text.slice(0, lastColon + 1);
    head = prefix.endsWith("::") ? prefix : prefix.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) throw bad();
  const parse = (s: string): number[] =>
    s === ""
      ? []
      : s.split(":").map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
          return parseInt(g, 16);
        });
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  const groups = halves.length === 2 ? [...left, ...new Array<number>(8 - tail.length - left.length - right.length).fill(0), ...right, ...tail] : [...left, ...tail];
  if (groups.length !== 8 || (halves.length === 2 && left.length + right.length + tail.length > 7)) throw bad();
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** The RFC 5952 text of 16 IPv6 address bytes (lower case, longest zero run compressed). */
export function ipv6FromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`IPv6 address: expected 16 bytes, got ${bytes.length}`);
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
