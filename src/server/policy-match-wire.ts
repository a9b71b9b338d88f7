import { create } from "@bufbuild/protobuf";
import type { Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { MatchType, PolicyMatchSchema, StringMatchSchema, type PolicyMatch, type StringMatch } from "../gen/goldmane/api_pb.js";

/**
 * PolicyMatch in both encodings (DESIGN §6d). Calico v3.32 (upstream PR #12108) made
 * `PolicyMatch.tier`, `.namespace` and `.name` (fields 2–4) `StringMatch` messages; v3.30/v3.31
 * clients send plain strings in the same field numbers. Both are wire type LEN, so the bytes of
 * each field are decoded here, one field at a time, by this rule:
 *
 * 1. empty → an empty StringMatch (matches everything; an empty string means the same);
 * 2. first byte 0x0a (field 1, LEN) or 0x10 (field 2, varint) and the whole field is well-formed
 *    protobuf whose field 1 is valid UTF-8 → a StringMatch (unknown fields skipped, as any
 *    protobuf decoder would). v3.32 clients always send a message, and every non-empty StringMatch
 *    starts with one of these two tags;
 * 3. otherwise valid UTF-8 → a plain string, matched exactly (what v3.30/v3.31 meant);
 * 4. otherwise → INVALID_ARGUMENT naming the field.
 *
 * The rule is unambiguous for every real policy, tier and namespace name: Kubernetes names cannot
 * contain control characters, so no plain string starts with LF (0x0a) or DLE (0x10). JSON is
 * simpler: a string is the old encoding, an object the new one.
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });

function utf8OrNull(b: Uint8Array): string | null {
  try {
    return utf8.decode(b);
  } catch {
    return null;
  }
}

/** Reads a varint at `pos`; returns [value, next] or null when truncated or longer than 10 bytes. */
function varint(b: Uint8Array, pos: number): [number, number] | null {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) return null;
    const byte = b[pos++]!;
    v += (byte & 0x7f) * mul;
    mul *= 128;
    if (byte < 0x80) return [v, pos];
  }
  return null;
}

/** Parses `b` strictly as a StringMatch message, or returns null if it is not one (rule 2). */
function asStringMatch(b: Uint8Array): StringMatch | null {
  if (b[0] !== 0x0a && b[0] !== 0x10) return null;
  let value = "";
  let type = 0;
  let pos = 0;
  while (pos < b.length) {
    const t = varint(b, pos);
    if (t === null) return null;
    const [tag, afterTag] = t;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) return null;
    pos = afterTag;
    if (wire === 0) {
      const v = varint(b, pos);
      if (v === null) return null;
      if (field === 2) type = v[0] > 0x7fffffff ? -1 : v[0];
      else if (field === 1) return null;
      pos = v[1];
    } else if (wire === 2) {
      const l = varint(b, pos);
      if (l === null || l[1] + l[0] > b.length) return null;
      if (field === 1) {
        const s = utf8OrNull(b.subarray(l[1], l[1] + l[0]));
        if (s === null) return null;
        value = s;
      } else if (field === 2) return null;
      pos = l[1] + l[0];
    } else if (wire === 1 || wire === 5) {
      if (field === 1 || field === 2) return null;
      pos += wire === 1 ? 8 : 4;
      if (pos > b.length) return null;
    } else {
      return null; // groups (3, 4) and wire types 6, 7 are not in proto3 messages
    }
  }
  return create(StringMatchSchema, { value, type });
}

function invalid(path: string, what: string): ConnectError {
  return new ConnectError(`${path}: ${what}`, Code.InvalidArgument);
}

/**
 * Decodes the bytes of PolicyMatch field 2, 3 or 4 by the rule in this file's header; `path`
 * names the field in errors (e.g. `filter.policies[0].name`).
 */
export function stringMatchFromWire(b: Uint8Array, path: string): StringMatch {
  if (b.length === 0) return create(StringMatchSchema);
  const m = asStringMatch(b);
  if (m !== null) return m;
  const s = utf8OrNull(b);
  if (s === null) throw invalid(path, "neither a StringMatch message nor a UTF-8 string");
  return create(StringMatchSchema, { value: s, type: MatchType.Exact });
}

const MATCH_TYPES: Readonly<Record<string, MatchType>> = { Exact: MatchType.Exact, Fuzzy: MatchType.Fuzzy };

/**
 * Decodes a PolicyMatch field given in JSON, read as a `google.protobuf.Value`: a string (the
 * v3.30/v3.31 encoding, exact) or an object `{"value": "...", "type": "Exact"|"Fuzzy"}` (v3.32);
 * null or absent means any. Anything else, an unknown key or an unknown type is INVALID_ARGUMENT.
 */
export function stringMatchFromJson(v: Value | undefined, path: string): StringMatch {
  const k = v?.kind;
  if (k === undefined || k.case === undefined || k.case === "nullValue") return create(StringMatchSchema);
  if (k.case === "stringValue") return create(StringMatchSchema, { value: k.value, type: MatchType.Exact });
  if (k.case !== "structValue") throw invalid(path, `must be a string or a StringMatch object, got ${k.case.replace("Value", "")}`);
  let value = "";
  let type = MatchType.Exact;
  for (const [key, fv] of Object.entries(k.value.fields)) {
    const fk = fv.kind;
    if (key === "value") {
      if (fk.case === "stringValue") value = fk.value;
      else if (fk.case !== "nullValue") throw invalid(`${path}.value`, "must be a string");
    } else if (key === "type") {
      if (fk.case === "stringValue" && fk.value in MATCH_TYPES) type = MATCH_TYPES[fk.value]!;
      else if (fk.case === "numberValue" && Number.isInteger(fk.value) && fk.value >= 0 && fk.value <= 0x7fffffff) type = fk.value;
      else if (fk.case !== "nullValue") throw invalid(`${path}.type`, `unknown MatchType ${JSON.stringify(fk.value)}`);
    } else {
      throw invalid(path, `unknown field "${key}" in StringMatch`);
    }
  }
  return create(StringMatchSchema, { value, type });
}

/** The three StringMatch fields of a PolicyMatch in either lenient form. */
type LenientPolicyMatch<F> = Omit<PolicyMatch, "tier" | "namespace" | "name" | "$typeName"> & {
  tier?: F;
  namespace?: F;
  name?: F;
};

/** A lenient PolicyMatch (fields 2–4 as raw bytes or JSON values) → the canonical message. */
export function policyMatchFrom<F>(
  m: LenientPolicyMatch<F>,
  path: string,
  field: (v: F | undefined, path: string) => StringMatch,
): PolicyMatch {
  return create(PolicyMatchSchema, {
    kind: m.kind,
    action: m.action,
    tier: field(m.tier, `${path}.tier`),
    namespace: field(m.namespace, `${path}.namespace`),
    name: field(m.name, `${path}.name`),
  });
}

/** {@link stringMatchFromWire} for a possibly absent field (absent = any). */
export function wireField(v: Uint8Array | undefined, path: string): StringMatch {
  return stringMatchFromWire(v ?? new Uint8Array(0), path);
}
