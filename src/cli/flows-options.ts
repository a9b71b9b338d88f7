import { create } from "@bufbuild/protobuf";
import { type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InvalidArgumentError } from "commander";
import * as fs from "node:fs";
import {
  Action,
  FilterSchema,
  FilterType,
  MatchType,
  PolicyKind,
  PolicyMatchSchema,
  Reporter,
  SortBy,
  StatisticsGroupBy,
  StatisticType,
  type Filter,
  type PolicyMatch,
} from "../gen/goldmane/api_pb.js";

/** The metadata key of a session token (binary, so its value is base64). */
export const SESSION_HEADER = "tributary-session-bin";

/** Default server address: the RPC port of a local `tributary serve`. */
export const DEFAULT_ADDR = "http://127.0.0.1:7443";

/** Appends a value to a repeatable option's list (commander's collector). */
export function collect<T>(parse: (v: string) => T) {
  return (value: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(value)];
}

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A time option: a duration back from now (`15m`, `1h30m`, `90s`) → negative seconds, which the
 * server reads as relative to its own clock; plain digits → absolute Unix seconds; `0` → the
 * request default (oldest data for a start, now for an end).
 */
export function parseTime(raw: string): bigint {
  const v = raw.trim();
  if (/^\d+$/.test(v)) return BigInt(v);
  if (/^(\d+[smhd])+$/.test(v)) return -BigInt(durationSec(v));
  // A date (ISO 8601 / RFC 3339: 2026-11-30, 2026-11-30T12:00:00Z); without a zone it is UTC.
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const ms = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(v) || v.length === 10 ? v : `${v}Z`);
    if (!Number.isNaN(ms)) return BigInt(Math.floor(ms / 1000));
  }
  throw new InvalidArgumentError(`expected a duration back from now (15m, 1h30m, 90s) or absolute Unix seconds (also 7d, or a date such as 2026-11-30T12:00:00Z), got "${raw}"`);
}

/** A duration such as `15s`, `2m` or `1h30m` in whole seconds (`0` allowed). */
export function durationSec(raw: string): number {
  const v = raw.trim();
  if (v === "0") return 0;
  if (!/^(\d+[smhd])+$/.test(v)) throw new InvalidArgumentError(`expected a duration such as 15s, 5m or 1h30m, got "${raw}"`);
  let total = 0;
  for (const [, n, unit] of v.matchAll(/(\d+)([smhd])/g)) total += Number(n) * UNIT_SEC[unit!]!;
  return total;
}

/** A non-negative integer option. */
export function parseCount(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`expected a whole number >= 0, got "${raw}"`);
  return Number(raw);
}

/** A TCP/UDP port (0–65535). */
export function parsePort(raw: string): bigint {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 65535) throw new InvalidArgumentError(`expected a port from 0 to 65535, got "${raw}"`);
  return BigInt(raw);
}

/** kebab-case CLI word ↔ enum value, so `--sort source-name` reads like the docs. */
function enumParser<T extends number>(what: string, words: Record<string, T>) {
  return (raw: string): T => {
    const v = words[raw.trim().toLowerCase()];
    if (v === undefined) throw new InvalidArgumentError(`unknown ${what} "${raw}"; one of: ${Object.keys(words).join(", ")}`);
    return v;
  };
}

export const parseAction = enumParser("action", { allow: Action.Allow, deny: Action.Deny, pass: Action.Pass });
export const parseReporter = enumParser("reporter", { src: Reporter.Src, dst: Reporter.Dst });
export const parseSort = enumParser("sort order", {
  time: SortBy.Time,
  "source-name": SortBy.SourceName,
  "source-namespace": SortBy.SourceNamespace,
  "dest-name": SortBy.DestName,
  "dest-namespace": SortBy.DestNamespace,
  "source-type": SortBy.SourceType,
  "dest-type": SortBy.DestType,
});
export const parseHintType = enumParser("hint type", {
  "source-name": FilterType.FilterTypeSourceName,
  "source-namespace": FilterType.FilterTypeSourceNamespace,
  "dest-name": FilterType.FilterTypeDestName,
  "dest-namespace": FilterType.FilterTypeDestNamespace,
  "policy-tier": FilterType.FilterTypePolicyTier,
  "policy-name": FilterType.FilterTypePolicyName,
  "policy-kind": FilterType.FilterTypePolicyKind,
  "policy-namespace": FilterType.FilterTypePolicyNamespace,
});
export const parseGroupBy = enumParser("grouping", { policy: StatisticsGroupBy.Policy, rule: StatisticsGroupBy.PolicyRule, "policy-rule": StatisticsGroupBy.PolicyRule });
export const parseStatType = enumParser("statistic type", {
  packets: StatisticType.PacketCount,
  bytes: StatisticType.ByteCount,
  connections: StatisticType.LiveConnectionCount,
});
export const parsePolicyKind = enumParser(
  "policy kind",
  Object.fromEntries(
    Object.entries(PolicyKind)
      .filter(([name, v]) => typeof v === "number" && v !== PolicyKind.KindUnspecified && name !== "KindUnspecified")
      .map(([name, v]) => [name.toLowerCase(), v as PolicyKind]),
  ),
);

/** The filter flags shared by list, stream and hints (each repeatable; `~x` = contains x). */
export interface FilterFlags {
  sourceName?: string[];
  sourceNamespace?: string[];
  destName?: string[];
  destNamespace?: string[];
  protocol?: string[];
  port?: bigint[];
  action?: Action[];
  pendingAction?: Action[];
  reporter?: Reporter;
  policyTier?: string[];
  policyName?: string[];
  policyNamespace?: string[];
  policyKind?: PolicyKind[];
  policyAction?: Action[];
}

function strings(values: string[] | undefined) {
  return (values ?? []).map((v) => (v.startsWith("~") ? { value: v.slice(1), type: MatchType.Fuzzy } : { value: v, type: MatchType.Exact }));
}

/**
 * Policy flags → PolicyMatch list: one match per combination of the given tiers, names,
 * namespaces, kinds and actions (an absent flag means "any"), as Goldmane's UI sends them.
 */
export function policyMatches(f: FilterFlags): PolicyMatch[] {
  const any = <T>(v: T[] | undefined, none: T): T[] => (v && v.length > 0 ? v : [none]);
  if (![f.policyTier, f.policyName, f.policyNamespace, f.policyKind, f.policyAction].some((v) => v && v.length > 0)) return [];
  const out: PolicyMatch[] = [];
  // Calico v3.32's encoding: StringMatch per field; "" = any, a leading "~" = fuzzy, like the others.
  const match = (v: string[] | undefined) => (v && v.length > 0 ? strings(v) : [{ value: "", type: MatchType.Exact }]);
  for (const tier of match(f.policyTier))
    for (const name of match(f.policyName))
      for (const namespace of match(f.policyNamespace))
        for (const kind of any(f.policyKind, PolicyKind.KindUnspecified))
          for (const action of any(f.policyAction, Action.ActionUnspecified)) out.push(create(PolicyMatchSchema, { tier, name, namespace, kind, action }));
  return out;
}

/** Builds the wire Filter from the filter flags. */
export function filterOf(f: FilterFlags): Filter {
  return create(FilterSchema, {
    sourceNames: strings(f.sourceName),
    sourceNamespaces: strings(f.sourceNamespace),
    destNames: strings(f.destName),
    destNamespaces: strings(f.destNamespace),
    protocols: strings(f.protocol),
    destPorts: (f.port ?? []).map((port) => ({ port })),
    actions: f.action ?? [],
    pendingActions: f.pendingAction ?? [],
    reporter: f.reporter ?? Reporter.ReporterUnspecified,
    policies: policyMatches(f),
  });
}

/** Connection flags shared by every `flows` subcommand. */
export interface ConnectionFlags {
  addr: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipVerify?: boolean;
  token?: string;
  timeout: number;
}

/** A connection option that cannot work (bad address, missing file, TLS options on http). */
export class UsageError extends Error {}

function readPem(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Normalises `--addr`: `host:port` means `http://host:port`; only http and https are accepted. */
export function baseUrlOf(addr: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--addr: not a URL or host:port: "${addr}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--addr: the scheme must be http or https, got "${url.protocol.slice(0, -1)}"`);
  if (url.pathname !== "/" || url.search !== "") throw new UsageError(`--addr: give only scheme, host and port, got "${addr}"`);
  return url;
}

/**
 * The gRPC transport (HTTP/2: h2c for http://, TLS for https://) with the TLS material and the
 * session token of the flags. Files are read here, so a bad path is a usage error before any call.
 */
export function transportOf(flags: ConnectionFlags): Transport {
  const url = baseUrlOf(flags.addr);
  const tlsFlags = [flags.ca && "--ca", flags.cert && "--cert", flags.key && "--key", flags.insecureSkipVerify && "--insecure-skip-verify"].filter(Boolean);
  if (url.protocol === "http:" && tlsFlags.length > 0) throw new UsageError(`${tlsFlags.join(", ")} need an https:// --addr, got ${url.origin}`);
  if (Boolean(flags.cert) !== Boolean(flags.key)) throw new UsageError("--cert and --key go together (a client certificate and its private key)");
  const interceptors: Interceptor[] = [];
  if (flags.token !== undefined) {
    const token = flags.token.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(token)) throw new UsageError("--token: must be base64 (standard or URL-safe)");
    interceptors.push((next) => (req) => {
      req.header.set(SESSION_HEADER, token);
      return next(req);
    });
  }
  const nodeOptions =
    url.protocol === "https:"
      ? {
          ca: flags.ca ? readPem("--ca", flags.ca) : undefined,
          cert: flags.cert ? readPem("--cert", flags.cert) : undefined,
          key: flags.key ? readPem("--key", flags.key) : undefined,
          rejectUnauthorized: !flags.insecureSkipVerify,
        }
      : {};
  return createGrpcTransport({ baseUrl: url.origin, interceptors, nodeOptions });
}
