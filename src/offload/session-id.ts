/**
 * Session ids of the two OpenOffload dialects and the rule that links them.
 *
 * The OPI dialect adds and lists sessions by `opi_api.common.v1.Uuid` (text) but gets and deletes
 * them by a `uint64`; the openoffload.v1 dialect uses the `uint64` everywhere. Reference
 * offload-frostfs.md §2.9 (our rule, documented in docs/offload-sim.md):
 * - a base-10 integer `"1001"` (at most 2^64−1) has that integer as its numeric id;
 * - a 128-bit UUID in hex (with or without hyphens, any case, optional braces or `urn:uuid:`)
 *   has the low 64 bits, i.e. its last 16 hex digits, as its numeric id;
 * - anything else has no numeric id, and the emulator rejects it as a session id.
 */

/** The largest uint64. */
export const UINT64_MAX = (1n << 64n) - 1n;

/** A parsed session id: its canonical text (the identity) and its numeric id. */
export interface ParsedSessionId {
  /** Canonical text: the decimal integer without leading zeros, or the lower-case hyphenated UUID. */
  readonly key: string;
  /** The uint64 a Get/Delete names this session by. */
  readonly numeric: bigint;
  /** Which form the text had. */
  readonly form: "decimal" | "uuid";
}

const DECIMAL = /^[0-9]{1,20}$/;
const UUID_HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_PLAIN = /^[0-9a-f]{32}$/;

/**
 * Parses a `Uuid.value` (or any textual session id). Returns undefined when the text is neither a
 * uint64 in base 10 nor a UUID.
 *
 * @example parseSessionId("1001")?.numeric === 1001n
 * @example parseSessionId("9b2e…-00000000000003e9")?.numeric === 1001n
 */
export function parseSessionId(value: string): ParsedSessionId | undefined {
  if (DECIMAL.test(value)) {
    const n = BigInt(value);
    if (n > UINT64_MAX) return undefined;
    return { key: n.toString(), numeric: n, form: "decimal" };
  }
  let text = value.toLowerCase();
  if (text.startsWith("urn:uuid:")) text = text.slice(9);
  else if (text.startsWith("{") && text.endsWith("}")) text = text.slice(1, -1);
  let hex: string;
  if (UUID_HYPHENATED.test(text)) hex = text.replaceAll("-", "");
  else if (UUID_PLAIN.test(text)) hex = text;
  else return undefined;
  const key = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { key, numeric: BigInt(`0x${hex.slice(16)}`), form: "uuid" };
}

/**
 * The numeric (uint64) id that GetSession/DeleteSession use for a `Uuid.value`, or undefined when
 * the value has none (see {@link parseSessionId}).
 */
export function uuidToNumericId(value: string): bigint | undefined {
  return parseSessionId(value)?.numeric;
}

/**
 * The `Uuid.value` for a numeric id: its decimal text, which maps back to the same number. This is
 * how the emulator shows sessions added through the openoffload.v1 dialect to OPI clients.
 */
export function numericIdToUuid(id: bigint): string {
  if (id < 0n || id > UINT64_MAX) throw new RangeError(`session id: must be a uint64, got ${id}`);
  return id.toString();
}

/**
 * True for the ids that GetAllSession treats as "no id given": empty, "0" and the all-zero UUID.
 */
export function isZeroSessionId(value: string): boolean {
  if (value === "") return true;
  const parsed = parseSessionId(value);
  return parsed !== undefined && parsed.key.replace(/[-0]/g, "") === "";
}
