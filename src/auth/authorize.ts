import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import { Verb } from "../gen/tributary/session/v1/session_pb.js";
import type { FilterSpec, KeyPredicate } from "../query/filter.js";
import { AuthError } from "./errors.js";
import type { AuthMetrics } from "./metrics.js";
import { PROOF_HEADER, PROOF_TIME_HEADER, SESSION_HEADER, type ProofChecker } from "./proof.js";
import { decodeBinaryHeader, verbName, verifyToken, type Session, type VerifyOptions } from "./token.js";

/** `AUTH_MODE`: what every call (but SessionService.Create) must present. */
export type AuthMode = "none" | "mtls" | "token" | "mtls+token";
export const AUTH_MODES: readonly AuthMode[] = ["none", "mtls", "token", "mtls+token"];

/** The path of SessionService.Create, open in every mode (it authenticates by its own means). */
export const CREATE_PATH = "/tributary.session.v1.SessionService/Create";

/** The verbs that may call a method; "open" for Create, [] for a method no verb grants. */
export function verbsFor(path: string): readonly Verb[] | "open" {
  if (path === CREATE_PATH) return "open";
  if (path === "/goldmane.FlowCollector/Connect") return [Verb.INGEST, Verb.OFFLOAD];
  if (path.startsWith("/goldmane.Flows/") || path.startsWith("/goldmane.Statistics/")) return [Verb.QUERY];
  // Server reflection describes the query API: a query like any other (DESIGN §6d).
  if (path.startsWith("/grpc.reflection.v1.ServerReflection/") || path.startsWith("/grpc.reflection.v1alpha.ServerReflection/")) return [Verb.QUERY];
  return [];
}

/** The metrics label of a method's verb. */
function verbLabel(path: string): string {
  const v = verbsFor(path);
  return v === "open" ? "create" : v.length === 0 ? "none" : verbName(v[0]!);
}

/** The TLS client certificate of a call: null = none presented, undefined = not known here. */
export type ClientCertificate = { readonly subject: string } | null | undefined;

/** One call as the authoriser sees it, whatever the transport (Connect or the fast lane). */
export interface CallInfo {
  readonly path: string;
  header(name: string): string | undefined;
  readonly clientCertificate: ClientCertificate;
}

/**
 * Who is calling, as a context value (STYLE.md §3): the verified session (if any) and, for a
 * QUERY token with namespaces, the scope every query method applies.
 */
export interface CallAuth {
  readonly session?: Session;
  /** Keys visible to this call: source or destination namespace in the token's scope. */
  readonly scope?: KeyPredicate;
  /**
   * Refuses (PERMISSION_DENIED, counted) a query whose filter can only match flows outside the
   * scope: both source and destination namespaces restricted to exact names none of which is in
   * scope. Any other filter is narrowed silently by {@link CallAuth.scope}.
   */
  requireInScope(filter: FilterSpec): void;
}

/** The anonymous caller (AUTH_MODE none or mtls without a token). */
export const ANONYMOUS: CallAuth = Object.freeze({ requireInScope: () => undefined });

/** The caller's identity, set by the auth interceptor. */
export const kCallAuth = createContextKey<CallAuth>(ANONYMOUS, { description: "authenticated caller" });

/** A predicate over keys: source or destination namespace in `namespaces`. */
export function namespaceScope(namespaces: readonly string[]): KeyPredicate {
  const set = new Set(namespaces);
  return (k) => set.has(k.sourceNamespace) || set.has(k.destNamespace);
}

/** Combines a request filter with a scope (AND); the filter alone when there is no scope. */
export function withScope(filter: KeyPredicate, scope: KeyPredicate | undefined): KeyPredicate {
  return scope ? (k) => filter(k) && scope(k) : filter;
}

export interface AuthorizerDeps {
  readonly mode: AuthMode;
  readonly allowBearer: boolean;
  readonly skewSec: number;
  /** Token verification (keyring, revocation, clock); undefined without AUTH_ISSUER_KEY_PATH. */
  readonly verify?: Omit<VerifyOptions, "nowSec">;
  readonly nowSec: () => number;
  readonly proofs: ProofChecker;
  readonly metrics: AuthMetrics;
}

/** Decides one call: returns its {@link CallAuth} or throws {@link AuthError}. */
export type Authorizer = (call: CallInfo) => CallAuth;

/**
 * The per-call check shared by the Connect interceptor and the ingest fast lane, in the order of
 * docs/auth.md: client certificate (mtls modes), token presence, token validity (see verifyToken),
 * proof of possession or bearer policy, then the verb. Every decision is counted.
 */
export function createAuthorizer(d: AuthorizerDeps): Authorizer {
  const needCert = d.mode === "mtls" || d.mode === "mtls+token";
  const needToken = d.mode === "token" || d.mode === "mtls+token";
  return (call) => {
    const verbs = verbsFor(call.path);
    const label = verbLabel(call.path);
    try {
      if (verbs === "open") {
        d.metrics.calls.labels("open", label).inc();
        return ANONYMOUS;
      }
      // The TLS handshake already enforces CA_CERT_PATH; this is the belt to its braces.
      if (needCert && call.clientCertificate === null) throw new AuthError("no_client_certificate", "a client certificate is required (AUTH_MODE " + d.mode + ")");
      const raw = call.header(SESSION_HEADER);
      if (raw === undefined || raw === "" || !d.verify) {
        if (needToken) throw new AuthError("missing", `missing session token (${SESSION_HEADER})`);
        d.metrics.calls.labels("anonymous", label).inc();
        return ANONYMOUS;
      }
      const bytes = decodeBinaryHeader(raw);
      if (!bytes) throw new AuthError("malformed", `malformed session token: ${SESSION_HEADER} is not base64`);
      const now = d.nowSec();
      const session = verifyToken(bytes, { ...d.verify, nowSec: now });
      if (session.sessionKey) {
        const proofRaw = call.header(PROOF_HEADER);
        const proof = proofRaw === undefined ? undefined : decodeBinaryHeader(proofRaw);
        d.proofs.check(session.sessionKey, session.id, call.path, proof, call.header(PROOF_TIME_HEADER), now);
      } else if (!d.allowBearer) {
        throw new AuthError("bearer_refused", "bearer tokens (without a session_key) are not accepted (AUTH_ALLOW_BEARER=false)");
      }
      if (!verbs.includes(session.verb)) {
        throw new AuthError("wrong_verb", `token verb ${verbName(session.verb).toUpperCase()} does not allow ${call.path}`);
      }
      d.metrics.calls.labels("ok", label).inc();
      return callAuth(session, d.metrics, label);
    } catch (e) {
      if (e instanceof AuthError) d.metrics.calls.labels(e.failure, label).inc();
      throw e;
    }
  };
}

function callAuth(session: Session, metrics: AuthMetrics, label: string): CallAuth {
  if (session.verb !== Verb.QUERY || session.namespaces.length === 0) return { session, requireInScope: () => undefined };
  const inScope = new Set(session.namespaces);
  const disjoint = (ms: FilterSpec["sourceNamespaces"]) => ms.length > 0 && ms.every((m) => !m.fuzzy && !inScope.has(m.value));
  return {
    session,
    scope: namespaceScope(session.namespaces),
    requireInScope(filter) {
      if (disjoint(filter.sourceNamespaces) && disjoint(filter.destNamespaces)) {
        metrics.calls.labels("out_of_scope", label).inc();
        throw new ConnectError(`namespaces out of the token's scope (${session.namespaces.join(", ")})`, Code.PermissionDenied);
      }
    },
  };
}

/** An {@link AuthError} as the ConnectError clients see. */
export function toConnectAuthError(e: AuthError): ConnectError {
  return new ConnectError(e.message, e.code);
}

/** The verified TLS client certificate of a request (null when none), set per request. */
export const kClientCertificate = createContextKey<ClientCertificate>(undefined, { description: "TLS client certificate" });
