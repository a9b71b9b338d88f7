/**
 * Compares two strings in UTF-8 byte order, which is Go's string order and so Goldmane's
 * (goldmane-spec §4.4). UTF-16 code-unit order differs only when a surrogate (a character above
 * U+FFFF) meets a unit in U+E000–U+FFFF; those units are remapped so the result matches bytes.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Sorts and de-duplicates strings in UTF-8 byte order (a new array). */
export function sortedUniqueUtf8(values: Iterable<string>): string[] {
  const out = [...new Set(values)];
  out.sort(compareUtf8);
  return out;
}
