import type { FlowKeyModel, PolicyHitModel } from "./flow.js";

/**
 * Stable-sorts policy hits by policy_index (Felix's canonical order, goldmane-spec §2.4/§3.4), so
 * equal traces that arrive in another order are one key. Returns the input when already sorted.
 */
export function sortHits(hits: PolicyHitModel[]): PolicyHitModel[] {
  for (let i = 1; i < hits.length; i++) {
    if (hits[i - 1]!.policyIndex > hits[i]!.policyIndex) {
      // Array.prototype.sort is stable (ES2019), which keeps ties in received order.
      return hits.slice().sort((a, b) => a.policyIndex - b.policyIndex);
    }
  }
  return hits;
}

function str(s: string): string {
  // Length-prefixed, so no string content can make two different keys collide.
  return `${s.length}:${s}`;
}

function hitString(h: PolicyHitModel): string {
  const trig = h.trigger ? `{${hitString(h.trigger)}}` : "-";
  return `${h.kind}|${str(h.namespace)}${str(h.name)}${str(h.tier)}${h.action}|${h.policyIndex}|${h.ruleIndex}|${trig}`;
}

/** The canonical policy trace string; equal traces (after canonical ordering) give equal strings. */
export function traceString(enforced: readonly PolicyHitModel[], pending: readonly PolicyHitModel[]): string {
  let s = "E";
  for (const h of enforced) s += hitString(h);
  s += "P";
  for (const h of pending) s += hitString(h);
  return s;
}

/**
 * The identity of a key as one string: every FlowKey field, the policy trace included. Used as the
 * KeyTable map key, so it must be exact (length-prefixed strings, no separators to collide on).
 */
export function keyString(k: FlowKeyModel, trace: string): string {
  return (
    str(k.sourceName) +
    str(k.sourceNamespace) +
    k.sourceType +
    "|" +
    str(k.destName) +
    str(k.destNamespace) +
    k.destType +
    "|" +
    k.destPort +
    "|" +
    str(k.destServiceName) +
    str(k.destServiceNamespace) +
    str(k.destServicePortName) +
    k.destServicePort +
    "|" +
    str(k.proto) +
    k.reporter +
    "|" +
    k.action +
    "|" +
    trace
  );
}
