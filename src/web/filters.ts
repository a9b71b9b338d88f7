import { create } from "@bufbuild/protobuf";
import { Action, FilterSchema, FilterType, MatchType, PolicyMatchSchema, type Filter } from "../gen/goldmane/api_pb.js";
import type { Api } from "./api.js";
import { h } from "./dom.js";
import { actionName, displayName, displayNamespace, wireValue } from "./format.js";

/** The filter fields the bar offers; `hint` is the FilterHints type that autocompletes it. */
export const FIELDS = [
  { id: "sourceName", label: "Source name", hint: FilterType.FilterTypeSourceName, kind: "name" },
  { id: "sourceNamespace", label: "Source namespace", hint: FilterType.FilterTypeSourceNamespace, kind: "namespace" },
  { id: "destName", label: "Dest name", hint: FilterType.FilterTypeDestName, kind: "name" },
  { id: "destNamespace", label: "Dest namespace", hint: FilterType.FilterTypeDestNamespace, kind: "namespace" },
  { id: "policyTier", label: "Policy tier", hint: FilterType.FilterTypePolicyTier, kind: "other" },
  { id: "policyNamespace", label: "Policy namespace", hint: FilterType.FilterTypePolicyNamespace, kind: "namespace" },
  { id: "policyName", label: "Policy name", hint: FilterType.FilterTypePolicyName, kind: "other" },
  { id: "protocol", label: "Protocol", hint: undefined, kind: "other" },
  { id: "port", label: "Port", hint: undefined, kind: "other" },
] as const;

export type FieldId = (typeof FIELDS)[number]["id"];

/** One chosen value: exact (picked from the hints) or fuzzy (typed and entered). */
export interface Chip {
  value: string;
  fuzzy: boolean;
}

/** Everything the filter bar holds. */
export interface FilterState {
  chips: Record<FieldId, Chip[]>;
  actions: Action[];
}

/** An empty filter (matches every flow). */
export function emptyFilterState(): FilterState {
  const chips = Object.fromEntries(FIELDS.map((f) => [f.id, []])) as unknown as Record<FieldId, Chip[]>;
  return { chips, actions: [] };
}

const PAGE_SIZE = 20;

function matches(chips: Chip[]) {
  return chips.map((c) => ({ value: c.value, type: c.fuzzy ? MatchType.Fuzzy : MatchType.Exact }));
}

/**
 * Builds the wire Filter. Policy chips combine as Goldmane's UI does: one PolicyMatch per
 * (tier, namespace, name) combination, an empty value meaning "any" (goldmane-spec §11b), each
 * field a StringMatch as Calico v3.32 sends it.
 * `without` leaves one field out (its own hints must not be narrowed by its chips).
 */
export function toFilter(state: FilterState, without?: FieldId): Filter {
  const c = (id: FieldId): Chip[] => (id === without ? [] : state.chips[id]);
  // Calico v3.32's encoding: each policy field a StringMatch (an empty value means "any").
  const orAny = (id: FieldId) => (c(id).length === 0 ? [{ value: "" }] : matches(c(id)));
  const policies = [];
  if (c("policyTier").length + c("policyNamespace").length + c("policyName").length > 0) {
    for (const tier of orAny("policyTier"))
      for (const namespace of orAny("policyNamespace"))
        for (const name of orAny("policyName")) policies.push(create(PolicyMatchSchema, { tier, namespace, name }));
  }
  return create(FilterSchema, {
    sourceNames: matches(c("sourceName")),
    sourceNamespaces: matches(c("sourceNamespace")),
    destNames: matches(c("destName")),
    destNamespaces: matches(c("destNamespace")),
    protocols: matches(c("protocol")),
    destPorts: c("port").map((p) => ({ port: BigInt(p.value) })),
    actions: state.actions,
    policies,
  });
}

/** Options of {@link createFilterBar}. */
export interface FilterBarOptions {
  api: Api;
  state: FilterState;
  /** Called after every change of the filter. */
  onChange(): void;
  /** Shows an error (hints are best effort: the bar keeps working without them). */
  onError(e: unknown): void;
}

/** The filter bar: one input per field with autocomplete from FilterHints, chips, and actions. */
export function createFilterBar(opts: FilterBarOptions): HTMLElement {
  const bar = h("div", { class: "filter-bar", "data-testid": "filter-bar" });
  const chipRow = h("div", { class: "chips", "data-testid": "chips" });
  const renderChips = () => {
    chipRow.replaceChildren();
    for (const f of FIELDS) {
      opts.state.chips[f.id].forEach((chip, i) => {
        const shown = f.kind === "namespace" ? displayNamespace(chip.value) : f.kind === "name" ? displayName(chip.value) : chip.value;
        chipRow.append(
          h(
            "span",
            { class: "chip", "data-field": f.id, title: chip.fuzzy ? "contains" : "equals" },
            `${f.label} ${chip.fuzzy ? "~" : "="} ${shown}`,
            h("button", {
              type: "button",
              class: "chip-remove",
              "aria-label": `remove ${f.label} ${shown}`,
              onclick: () => {
                opts.state.chips[f.id].splice(i, 1);
                renderChips();
                opts.onChange();
              },
            }, "×"),
          ),
        );
      });
    }
  };
  const add = (id: FieldId, chip: Chip) => {
    const list = opts.state.chips[id];
    if (!list.some((c) => c.value === chip.value && c.fuzzy === chip.fuzzy)) list.push(chip);
    renderChips();
    opts.onChange();
  };

  for (const f of FIELDS) {
    bar.append(f.hint === undefined ? plainField(f.id, f.label, add) : hintField(opts, f.id, f.label, f.hint, f.kind, add));
  }

  const actionSel = h("select", { "aria-label": "Action", "data-testid": "filter-action" },
    h("option", { value: "" }, "Any action"),
    ...[Action.Allow, Action.Deny, Action.Pass].map((a) => h("option", { value: String(a) }, actionName(a))),
  );
  actionSel.addEventListener("change", () => {
    opts.state.actions = actionSel.value === "" ? [] : [Number(actionSel.value) as Action];
    opts.onChange();
  });
  bar.append(h("label", { class: "field" }, h("span", {}, "Action"), actionSel));
  const wrap = h("div", { class: "filters" }, bar, chipRow);
  renderChips();
  return wrap;
}

/** Protocol and port: typed values, Enter adds them (no hint type exists for these). */
function plainField(id: FieldId, label: string, add: (id: FieldId, c: Chip) => void): HTMLElement {
  const input = h("input", { type: "text", placeholder: label, "aria-label": label, "data-testid": `filter-${id}`, autocomplete: "off" });
  input.addEventListener("keydown", (ev) => {
    if ((ev as KeyboardEvent).key !== "Enter") return;
    const v = input.value.trim();
    if (v === "") return;
    if (id === "port" && !/^\d{1,5}$/.test(v)) {
      input.setCustomValidity("a port is a number from 0 to 65535");
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    add(id, { value: id === "protocol" ? v.toLowerCase() : v, fuzzy: false });
    input.value = "";
  });
  return h("label", { class: "field" }, h("span", {}, label), input);
}

/**
 * A field with an autocomplete list fed by FilterHints: pages of {@link PAGE_SIZE}, the next one
 * loaded when the list is scrolled to its end, until a page comes back empty or short (hint paging
 * is stable and a page past the end is an empty list, goldmane-spec §11b). Picking a hint adds an
 * exact match; Enter on typed text adds a fuzzy ("contains") match.
 */
function hintField(opts: FilterBarOptions, id: FieldId, label: string, type: FilterType, kind: "name" | "namespace" | "other", add: (id: FieldId, c: Chip) => void): HTMLElement {
  const input = h("input", { type: "text", placeholder: label, "aria-label": label, "data-testid": `filter-${id}`, autocomplete: "off", role: "combobox", "aria-expanded": "false" });
  const list = h("ul", { class: "hints", role: "listbox", hidden: true, "data-testid": `hints-${id}` });
  let generation = 0;
  let page = 0;
  let done = false;
  let loading = false;
  let seen = new Set<string>();
  const display = kind === "namespace" ? displayNamespace : kind === "name" ? displayName : (v: string) => v;

  const request = (): Filter => {
    const text = input.value.trim();
    // Names and namespaces narrow server-side by a fuzzy match on the typed text (the field's own
    // chips are left out, so picking a second value stays possible); policy hints are narrowed
    // here instead, case-insensitively.
    if (text === "" || id.startsWith("policy")) return toFilter(opts.state, id);
    const chips = { ...opts.state.chips, [id]: [{ value: wireValue(kind, text), fuzzy: true }] };
    return toFilter({ ...opts.state, chips });
  };

  const loadMore = async () => {
    if (loading || done) return;
    loading = true;
    const gen = generation;
    try {
      const res = await opts.api.flows.filterHints({ type, filter: request(), page: BigInt(page), pageSize: BigInt(PAGE_SIZE) });
      if (gen !== generation) return;
      const text = input.value.trim().toLowerCase();
      for (const hint of res.hints) {
        const shown = display(hint.value);
        if (seen.has(shown)) continue;
        if (id.startsWith("policy") && text !== "" && !shown.toLowerCase().includes(text)) continue;
        seen.add(shown);
        list.append(h("li", {
          role: "option",
          class: "hint",
          "data-value": hint.value,
          onmousedown: (ev) => {
            ev.preventDefault(); // keep focus in the input
            add(id, { value: kind === "namespace" && hint.value === "" ? "-" : hint.value, fuzzy: false });
            input.value = "";
            close();
          },
        }, shown));
      }
      page++;
      done = res.hints.length < PAGE_SIZE || BigInt(page) >= (res.meta?.totalPages ?? 0n);
      if (list.childElementCount === 0 && done) list.append(h("li", { class: "hint-empty" }, "no matches"));
      list.dataset.pages = String(page);
      list.dataset.done = String(done);
      // A short first page may not fill the box: keep loading until it scrolls or ends.
      if (!done && list.scrollHeight <= list.clientHeight) void loadMore();
    } catch (e) {
      if (gen === generation) opts.onError(e);
    } finally {
      if (gen === generation) loading = false;
    }
  };
  const open = () => {
    generation++;
    page = 0;
    done = false;
    loading = false;
    seen = new Set();
    list.replaceChildren();
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    void loadMore();
  };
  const close = () => {
    generation++;
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  };
  let debounce: number | undefined;
  input.addEventListener("focus", open);
  input.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = window.setTimeout(open, 150);
  });
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (ev) => {
    const key = (ev as KeyboardEvent).key;
    if (key === "Escape") close();
    if (key !== "Enter") return;
    const v = input.value.trim();
    if (v === "") return;
    // A typed alias (Global, PUBLIC NETWORK) is an exact match on its wire value.
    const wire = wireValue(kind, v);
    add(id, wire !== v ? { value: wire, fuzzy: false } : { value: v, fuzzy: !id.startsWith("policy") });
    input.value = "";
    close();
  });
  list.addEventListener("scroll", () => {
    if (list.scrollTop + list.clientHeight >= list.scrollHeight - 8) void loadMore();
  });
  return h("label", { class: "field hint-field" }, h("span", {}, label), h("div", { class: "combo" }, input, list));
}
