import { Action, EndpointType, PolicyKind, Reporter, type PolicyHit } from "../gen/goldmane/api_pb.js";

/** Goldmane's aliases shown as Whisker shows them (goldmane-spec §11b). */
const NAME_ALIASES: Record<string, string> = { pub: "PUBLIC NETWORK", pvt: "PRIVATE NETWORK" };

/** Label of the namespace of global resources ("" and "-" on the wire). */
export const GLOBAL = "Global";

/** An endpoint name for display (`pub` → PUBLIC NETWORK, `pvt` → PRIVATE NETWORK). */
export function displayName(name: string): string {
  return NAME_ALIASES[name] ?? name;
}

/** A namespace for display ("" and "-" → Global). */
export function displayNamespace(ns: string): string {
  return ns === "" || ns === "-" ? GLOBAL : ns;
}

/** A displayed hint back to the value a filter needs (the inverse of the display functions). */
export function wireValue(field: "name" | "namespace" | "other", shown: string): string {
  if (field === "namespace" && shown === GLOBAL) return "-";
  if (field === "name") {
    for (const [wire, label] of Object.entries(NAME_ALIASES)) if (label === shown) return wire;
  }
  return shown;
}

/** Enum value → its proto name, or the number when unknown. */
function enumName(e: Record<number, string>, v: number): string {
  return e[v] ?? String(v);
}

export const actionName = (a: Action): string => (a === Action.ActionUnspecified ? "-" : enumName(Action, a));
export const reporterName = (r: Reporter): string => (r === Reporter.ReporterUnspecified ? "-" : enumName(Reporter, r));
export const endpointTypeName = (t: EndpointType): string => (t === EndpointType.EndpointTypeUnspecified ? "-" : enumName(EndpointType, t));
/** v3.30/v3.31's names of the PolicyKind values our proto reserves (they are shown as sent). */
const LEGACY_KINDS: Record<number, string> = { 7: "AdminNetworkPolicy", 8: "BaselineAdminNetworkPolicy" };
export const policyKindName = (k: PolicyKind): string => (k === PolicyKind.KindUnspecified ? "-" : enumName({ ...LEGACY_KINDS, ...PolicyKind }, k));

/** Unix seconds → `YYYY-MM-DD HH:MM:SS` in UTC (the server's clock, not the browser's). */
export function formatTime(sec: bigint | number): string {
  const n = Number(sec);
  if (n === 0) return "-";
  return new Date(n * 1000).toISOString().replace("T", " ").slice(0, 19);
}

/** Unix seconds → `HH:MM:SS` (UTC), for chart ticks. */
export function formatClock(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(11, 19);
}

/** A count with thousands separators, or k/M/G above a million. */
export function formatCount(v: bigint | number): string {
  const n = Number(v);
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  return n.toLocaleString("en-US");
}

/** One policy hit as `tier|namespace/name` (kind and action shown separately). */
export function policyLabel(p: Pick<PolicyHit, "tier" | "namespace" | "name" | "kind">): string {
  const ns = p.namespace === "" ? "" : `${p.namespace}/`;
  const tier = p.tier === "" ? "" : `${p.tier}|`;
  return `${tier}${ns}${p.name} (${policyKindName(p.kind)})`;
}
