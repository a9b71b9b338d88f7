import { Code } from "@connectrpc/connect";

/**
 * Why a call was refused, in verification order (docs/auth.md). The first group is
 * UNAUTHENTICATED, the last two PERMISSION_DENIED; each is a `tributary_auth_total` outcome.
 */
export type AuthFailure =
  | "missing"
  | "malformed"
  | "bad_signature"
  | "unknown_key"
  | "expired"
  | "not_yet_valid"
  | "revoked"
  | "bearer_refused"
  | "bad_proof"
  | "no_client_certificate"
  | "wrong_verb"
  | "out_of_scope";

const DENIED: ReadonlySet<AuthFailure> = new Set(["wrong_verb", "out_of_scope"]);

/** A refused call: the failure kind and a message naming it; {@link AuthError.code} is the gRPC code. */
export class AuthError extends Error {
  constructor(
    readonly failure: AuthFailure,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }

  /** UNAUTHENTICATED, or PERMISSION_DENIED for a valid token with the wrong verb or scope. */
  get code(): Code {
    return DENIED.has(this.failure) ? Code.PermissionDenied : Code.Unauthenticated;
  }
}
