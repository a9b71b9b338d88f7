import type { FlowKeyModel, PolicyHitModel } from "../model/flow.js";

/** A StringMatch: exact (byte-equal) or fuzzy (case-sensitive substring). */
export interface StringMatchSpec {
  readonly value: string;
  readonly fuzzy: boolean;
}

/**
 * A PolicyMatch: zero enums and empty values mean "any". Tier, namespace and name are StringMatches
 * as upstream since Calico v3.32 (`StringMatchMatches`: empty value = any, Exact = equality,
 * Fuzzy = substring); a v3.30/v3.31 plain string arrives here as an Exact match (DESIGN §6d).
 */
export interface PolicyMatchSpec {
  readonly kind: number;
  readonly tier: StringMatchSpec;
  readonly namespace: StringMatchSpec;
  readonly name: StringMatchSpec;
  readonly action: number;
}

/** The StringMatch that matches everything. */
export const ANY_STRING: StringMatchSpec = Object.freeze({ value: "", fuzzy: false });

/** Upstream's `StringMatchMatches` for policy fields: empty = any, Exact = equal, Fuzzy = substring. */
export function stringMatches(m: StringMatchSpec, v: string): boolean {
  return m.value === "" || (m.fuzzy ? v.includes(m.value) : v === m.value);
}

/** Goldmane's Filter as plain data (goldmane-spec §4.5). Empty lists do not filter. */
export interface FilterSpec {
  readonly sourceNames: readonly StringMatchSpec[];
  readonly sourceNamespaces: readonly StringMatchSpec[];
  readonly destNames: readonly StringMatchSpec[];
  readonly destNamespaces: readonly StringMatchSpec[];
  readonly protocols: readonly StringMatchSpec[];
  readonly destPorts: readonly number[];
  readonly actions: readonly number[];
  readonly policies: readonly PolicyMatchSpec[];
  /** 0 = any reporter. */
  readonly reporter: number;
  readonly pendingActions: readonly number[];
}

/** A filter that matches everything. */
export const MATCH_ALL: FilterSpec = Object.freeze({
  sourceNames: [],
  sourceNamespaces: [],
  destNames: [],
  destNamespaces: [],
  protocols: [],
  destPorts: [],
  actions: [],
  policies: [],
  reporter: 0,
  pendingActions: [],
});

/** A compiled key predicate. */
export type KeyPredicate = (key: FlowKeyModel) => boolean;

/** The UI shows stored `pub`/`pvt` names as these; filters may use either (spec §4.5). */
function nameAlias(n: string): string {
  return n === "pub" ? "PUBLIC NETWORK" : n === "pvt" ? "PRIVATE NETWORK" : "";
}

/** Goldmane's namespace alias: a stored "Global" also answers to "-" (spec §4.5). */
function namespaceAlias(n: string): string {
  return n === "Global" ? "-" : "";
}

function matchOne(m: StringMatchSpec, val: string, alias: string): boolean {
  if (!m.fuzzy) return val === m.value || (alias !== "" && alias === m.value);
  return val.includes(m.value) || (alias !== "" && alias.includes(m.value));
}

/**
 * Compiles one StringMatch list into a memoised predicate over values: key strings are interned
 * and few, so each distinct value is evaluated once per query however many keys share it.
 */
function compileStrings(ms: readonly StringMatchSpec[], alias: (v: string) => string): ((v: string) => boolean) | null {
  if (ms.length === 0) return null;
  const memo = new Map<string, boolean>();
  return (v) => {
    let r = memo.get(v);
    if (r === undefined) {
      const a = alias(v);
      r = ms.some((m) => matchOne(m, v, a));
      memo.set(v, r);
    }
    return r;
  };
}

const noAlias = () => "";

/** Whether one hit satisfies one PolicyMatch: only the hit's own fields, never its trigger. */
export function policyHitMatches(h: PolicyHitModel, m: PolicyMatchSpec): boolean {
  return (
    stringMatches(m.name, h.name) &&
    (m.kind === 0 || h.kind === m.kind) &&
    stringMatches(m.namespace, h.namespace) &&
    stringMatches(m.tier, h.tier) &&
    (m.action === 0 || h.action === m.action)
  );
}

/**
 * Compiles a filter once per request (STYLE.md §10) into a predicate over keys. Fields combine with
 * AND, entries of one field with OR (goldmane-spec §4.5).
 */
export function compileFilter(f: FilterSpec): KeyPredicate {
  const srcName = compileStrings(f.sourceNames, nameAlias);
  const dstName = compileStrings(f.destNames, nameAlias);
  const srcNs = compileStrings(f.sourceNamespaces, namespaceAlias);
  const dstNs = compileStrings(f.destNamespaces, namespaceAlias);
  const proto = compileStrings(f.protocols, noAlias);
  const ports = f.destPorts.length > 0 ? new Set(f.destPorts) : null;
  const actions = f.actions.length > 0 ? new Set(f.actions) : null;
  const pending = f.pendingActions.length > 0 ? new Set(f.pendingActions) : null;
  const reporter = f.reporter;
  const policies = f.policies.length > 0 ? f.policies : null;
  const anyHit = (hits: readonly PolicyHitModel[]) => hits.some((h) => policies!.some((m) => policyHitMatches(h, m)));
  return (k) =>
    (srcName === null || srcName(k.sourceName)) &&
    (dstName === null || dstName(k.destName)) &&
    (srcNs === null || srcNs(k.sourceNamespace)) &&
    (dstNs === null || dstNs(k.destNamespace)) &&
    (proto === null || proto(k.proto)) &&
    (actions === null || actions.has(k.action)) &&
    (reporter === 0 || k.reporter === reporter) &&
    (ports === null || ports.has(k.destPort)) &&
    (pending === null || k.pending.some((h) => pending.has(h.action))) &&
    (policies === null || anyHit(k.enforced) || anyHit(k.pending));
}
