/** A typed array that grows by copying: the columns of the store. */
export type Column = Int32Array | Uint32Array | Float64Array;

/**
 * A new array of `length` elements of the same type as `old`, holding `old`'s values at the start
 * and zeros after them (the store's columns grow by doubling, so this runs rarely).
 */
export function grown<T extends Column>(old: T, length: number): T {
  const a = new (old.constructor as new (n: number) => T)(length);
  a.set(old);
  return a;
}
