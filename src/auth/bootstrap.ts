import { createHash, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import { ConfigError } from "../config/parse.js";
import type { Verb } from "../gen/tributary/session/v1/session_pb.js";
import { parseVerb } from "./token.js";

/**
 * What one principal may obtain from SessionService.Create: verbs, a fixed node (INGEST/OFFLOAD)
 * and a namespace scope (QUERY). Empty `namespaces` = all; empty `node` = the caller chooses
 * (for a ServiceAccount: the node of its token's node claim).
 */
export interface Grant {
  readonly name: string;
  readonly verbs: readonly Verb[];
  readonly node: string;
  readonly namespaces: readonly string[];
}

/** A grant with how the principal proves who it is. */
export interface BootstrapEntry extends Grant {
  /** SHA-256 of the static secret (for a bootstrap credential). */
  readonly secretSha256?: Buffer;
  /** "namespace/name" of a Kubernetes ServiceAccount (checked by TokenReview). */
  readonly serviceAccount?: string;
}

/** The parsed bootstrap file. */
export interface Bootstrap {
  readonly entries: readonly BootstrapEntry[];
  /** The entry whose secret is `secret` (constant-time comparison of digests). */
  bySecret(secret: string): BootstrapEntry | undefined;
  /** The entry for a ServiceAccount "namespace/name". */
  byServiceAccount(sa: string): BootstrapEntry | undefined;
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();

function strings(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) throw new Error(`${field}: must be a list of non-empty strings`);
  return v as string[];
}

const FIELDS = new Set(["name", "secret", "secretSha256", "serviceAccount", "verbs", "node", "namespaces"]);

/**
 * Parses the bootstrap file (AUTH_BOOTSTRAP_PATH), a JSON list:
 * ```json
 * [{ "name": "dev-agent", "secret": "…", "verbs": ["ingest"], "node": "node-1" },
 *  { "name": "ui", "secretSha256": "<hex>", "verbs": ["query"], "namespaces": ["team-a"] },
 *  { "serviceAccount": "calico-system/calico-node", "verbs": ["ingest"] }]
 * ```
 * Unknown fields are rejected, like unknown configuration keys (STYLE.md §5).
 */
export function parseBootstrap(text: string): Bootstrap {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new Error("must be a JSON list of entries");
  const entries = raw.map((e: unknown, i): BootstrapEntry => {
    const at = `entry ${i}`;
    if (typeof e !== "object" || e === null || Array.isArray(e)) throw new Error(`${at}: must be an object`);
    const o = e as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!FIELDS.has(k)) throw new Error(`${at}: unknown field "${k}"`);
    const kinds = ["secret", "secretSha256", "serviceAccount"].filter((k) => o[k] !== undefined);
    if (kinds.length !== 1) throw new Error(`${at}: needs exactly one of secret, secretSha256, serviceAccount`);
    for (const k of ["name", "secret", "secretSha256", "serviceAccount", "node"]) {
      if (o[k] !== undefined && (typeof o[k] !== "string" || o[k] === "")) throw new Error(`${at}: ${k} must be a non-empty string`);
    }
    if (typeof o.secret === "string" && o.secret.length < 16) throw new Error(`${at}: secret must be at least 16 characters`);
    if (typeof o.secretSha256 === "string" && !/^[0-9a-fA-F]{64}$/.test(o.secretSha256)) throw new Error(`${at}: secretSha256 must be 64 hex digits`);
    if (typeof o.serviceAccount === "string" && !/^[^/\s]+\/[^/\s]+$/.test(o.serviceAccount)) throw new Error(`${at}: serviceAccount must be "namespace/name"`);
    const verbs = strings(o.verbs, `${at}: verbs`).map((v) => {
      try {
        return parseVerb(v);
      } catch (err) {
        throw new Error(`${at}: verbs: ${(err as Error).message}`);
      }
    });
    if (verbs.length === 0) throw new Error(`${at}: verbs must not be empty`);
    const name = (o.name as string | undefined) ?? (o.serviceAccount ? `system:serviceaccount:${(o.serviceAccount as string).replace("/", ":")}` : `bootstrap-${i}`);
    return {
      name,
      verbs,
      node: (o.node as string | undefined) ?? "",
      namespaces: strings(o.namespaces, `${at}: namespaces`),
      secretSha256: typeof o.secret === "string" ? sha256(o.secret) : typeof o.secretSha256 === "string" ? Buffer.from(o.secretSha256, "hex") : undefined,
      serviceAccount: o.serviceAccount as string | undefined,
    };
  });
  return {
    entries,
    bySecret(secret) {
      const d = sha256(secret);
      let hit: BootstrapEntry | undefined;
      // Compare with every entry (no early exit) so timing does not tell which one matched.
      for (const e of entries) if (e.secretSha256 && timingSafeEqual(e.secretSha256, d) && !hit) hit = e;
      return hit;
    },
    byServiceAccount: (sa) => entries.find((e) => e.serviceAccount === sa),
  };
}

/** Loads AUTH_BOOTSTRAP_PATH ("" = no entries); a bad file is a ConfigError naming the variable. */
export function loadBootstrap(p: string): Bootstrap {
  if (p === "") return parseBootstrap("[]");
  try {
    return parseBootstrap(fs.readFileSync(p, "utf8"));
  } catch (e) {
    throw new ConfigError("AUTH_BOOTSTRAP_PATH", `"${p}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
