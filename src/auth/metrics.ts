import { Counter, Gauge, type Registry } from "prom-client";

/** Metrics of authentication and authorisation (docs/auth.md "Metrics"). */
export function authMetrics(r: Registry) {
  return {
    calls: new Counter({
      name: "tributary_auth_total",
      help: "Authorisation decisions per call or stream, by outcome (ok, anonymous, or the failure) and the verb the method needs",
      labelNames: ["outcome", "verb"],
      registers: [r],
    }),
    created: new Counter({
      name: "tributary_auth_sessions_created_total",
      help: "SessionService.Create answers by outcome (ok or the failure) and how the caller authenticated (mtls, kubernetes, bootstrap, none)",
      labelNames: ["outcome", "method"],
      registers: [r],
    }),
    issuerKeys: new Gauge({ name: "tributary_auth_issuer_keys", help: "Issuer keys in the keyring (AUTH_ISSUER_KEY_PATH)", registers: [r] }),
    revoked: new Gauge({ name: "tributary_auth_revoked_tokens", help: "Token ids in the revocation list (AUTH_REVOKED_PATH)", registers: [r] }),
    reloadErrors: new Counter({
      name: "tributary_auth_reload_errors_total",
      help: "Failed re-reads of the keyring, revocation list or bootstrap file (the previous contents stay in use)",
      labelNames: ["file"],
      registers: [r],
    }),
  };
}

export type AuthMetrics = ReturnType<typeof authMetrics>;
