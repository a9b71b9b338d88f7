import { compareUtf8 } from "../model/compare.js";
import { KIND_PROFILE, type FlowKeyModel } from "../model/flow.js";
import type { FlowStore } from "../storage/flow-store.js";
import { NONE } from "../storage/flow-series.js";
import { QueryError } from "./errors.js";
import type { KeyPredicate } from "./filter.js";
import { pageBounds, pageMeta, type PageMeta, type PageSpec } from "./paging.js";
import { wholeBuckets, type TimeRange } from "./time-range.js";

/** FilterType values (goldmane/api.proto) and their enum names, for messages. */
export const FILTER_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: "FilterTypeUnspecified",
  1: "FilterTypeDestName",
  2: "FilterTypeSourceName",
  3: "FilterTypeDestNamespace",
  4: "FilterTypeSourceNamespace",
  5: "FilterTypePolicyTier",
  6: "FilterTypePolicyName",
  7: "FilterTypePolicyKind",
  8: "FilterTypePolicyNamespace",
});

/**
 * PolicyKind enum names (goldmane/api.proto): PolicyKind hints carry the kind as its name, as
 * Goldmane's `String()` does; a number without a name is printed as the number.
 */
export const POLICY_KIND_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: "KindUnspecified",
  1: "CalicoNetworkPolicy",
  2: "GlobalNetworkPolicy",
  3: "StagedNetworkPolicy",
  4: "StagedGlobalNetworkPolicy",
  5: "StagedKubernetesNetworkPolicy",
  6: "NetworkPolicy",
  // Reserved in the current proto; v3.30/v3.31 agents still send them (DESIGN §6d): their names.
  7: "AdminNetworkPolicy",
  8: "BaselineAdminNetworkPolicy",
  9: "Profile",
  10: "EndOfTier",
  11: "ClusterNetworkPolicy",
});

/** A validated FilterHints request. */
export interface FilterHintsQuery {
  readonly range: TimeRange;
  /** FilterType (1–8); anything else is rejected. */
  readonly type: number;
  /** The request's Filter, compiled: it selects keys (goldmane-spec §6). */
  readonly filter: KeyPredicate;
  readonly page: PageSpec;
  /**
   * An extra key predicate for callers that may see only part of the data (issue 8: a QUERY
   * token scoped to namespaces). Applied like `filter`.
   */
  readonly scope?: KeyPredicate;
}

/** The answer of FilterHints. */
export interface FilterHintsAnswer {
  readonly values: string[];
  readonly meta: PageMeta;
}

type Emit = (key: FlowKeyModel, out: Set<string>) => void;

/** Adds, for every hit that is not a Profile, one field of the hit, or of its trigger if it has one. */
function policyField(field: (h: { kind: number; namespace: string; name: string; tier: string }) => string): Emit {
  return (key, out) => {
    for (const hits of [key.enforced, key.pending]) {
      for (const h of hits) {
        // The Profile check is on the outer hit: a Profile trigger is reported (spec §6).
        if (h.kind === KIND_PROFILE) continue;
        out.add(field(h.trigger ?? h));
      }
    }
  };
}

const EMITTERS: Readonly<Record<number, Emit>> = {
  1: (k, out) => out.add(k.destName),
  2: (k, out) => out.add(k.sourceName),
  3: (k, out) => out.add(k.destNamespace),
  4: (k, out) => out.add(k.sourceNamespace),
  5: policyField((h) => h.tier),
  6: policyField((h) => h.name),
  7: policyField((h) => POLICY_KIND_NAMES[h.kind] ?? String(h.kind)),
  8: policyField((h) => h.namespace),
};

/**
 * FilterHints over keys already selected (the PostgreSQL history's path): the same emitters,
 * sorting and paging as {@link filterHints}.
 */
export function hintsOfKeys(type: number, keys: Iterable<FlowKeyModel>, page: PageSpec): FilterHintsAnswer {
  const emit = EMITTERS[type];
  if (!emit) throw new QueryError("type", `unsupported filter type '${FILTER_TYPE_NAMES[type] ?? type}'`);
  const found = new Set<string>();
  for (const k of keys) emit(k, found);
  const values = [...found].sort(compareUtf8);
  const { from, to } = pageBounds(values.length, page);
  return { values: values.slice(from, to), meta: pageMeta(values.length, page) };
}

/**
 * Whether the key in `slot` has a window in a bucket starting in `[first, last]`: the key
 * selection rule of List (DESIGN §4: only keys with data in buckets lying wholly inside the range;
 * `first`/`last` from {@link wholeBuckets}). Walks the key's windows from the newest.
 */
export function keyHasWindowIn(store: FlowStore, slot: number, first: number, last: number): boolean {
  return store.oldestWindowIn(slot, first, last) !== NONE;
}

/**
 * Flows.FilterHints (goldmane-spec §6, DESIGN §4): the distinct values of one field over the keys
 * that List would return for the same range and Filter.
 * - names and namespaces as stored (`pub`, `pvt`, `-`, "" included);
 * - policy tier / name / kind / namespace from every enforced and pending hit of each selected key
 *   (the trigger's values when a hit has a trigger; Profile hits skipped; kind as its enum name);
 * - values deduplicated and sorted byte-wise; paged like List (totals always correct, a page past
 *   the end is empty).
 * An unspecified or unknown type is a {@link QueryError} on `type`.
 */
export function filterHints(store: FlowStore, q: FilterHintsQuery): FilterHintsAnswer {
  const emit = EMITTERS[q.type];
  if (!emit) {
    throw new QueryError("type", `unsupported filter type '${FILTER_TYPE_NAMES[q.type] ?? q.type}'`);
  }
  const { first, last } = wholeBuckets(q.range, store.windowSec);
  const found = new Set<string>();
  if (first <= last) {
    const keys = store.keys;
    const scope = q.scope;
    for (let slot = 0; slot < keys.slotLimit; slot++) {
      const key = keys.keys[slot];
      if (key === undefined) continue;
      if (!keyHasWindowIn(store, slot, first, last)) continue;
      if (!q.filter(key) || (scope !== undefined && !scope(key))) continue;
      emit(key, found);
    }
  }
  const values = [...found].sort(compareUtf8);
  const { from, to } = pageBounds(values.length, q.page);
  return { values: values.slice(from, to), meta: pageMeta(values.length, q.page) };
}
