/**
 * The hash of `n` 32-bit words holding `length` bytes (murmur3's mixing, seeded per process): the
 * scanner hashes a memo signature (flow-update-scan.ts) right after writing it, while it is in
 * cache. Not a defence against crafted collisions on its own: storage/signature-memo.ts bounds
 * what they can cost.
 */
export function hashWords(words: Int32Array, n: number, length: number): number {
  let h = SEED ^ length;
  for (let i = 0; i < n; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Per-process seed: which keys collide differs from process to process. */
const SEED = (Math.random() * 0x100000000) | 0;
