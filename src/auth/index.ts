import { ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { ServeConfig } from "../config/serve-config.js";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import type { Registry } from "prom-client";
import { ConfigError } from "../config/parse.js";
import type { Clock } from "../model/time.js";
import type { Logger } from "../observability/logger.js";
import { createAuthorizer, kCallAuth, kClientCertificate, type AuthMode, type Authorizer, type CallAuth } from "./authorize.js";
import { loadBootstrap, type Bootstrap } from "./bootstrap.js";
import { clientCertificateOf } from "./client-certificate.js";
import { AuthError } from "./errors.js";
import { loadKeyring, type Keyring } from "./keyring.js";
import { authMetrics } from "./metrics.js";
import { createProofChecker } from "./proof.js";
import { loadRevocationList, type RevocationList } from "./revocation.js";
import { sessionService } from "./session-service.js";
import { kubernetesTokenReviewer } from "./token-review.js";

export { ANONYMOUS, AUTH_MODES, CREATE_PATH, kCallAuth, kClientCertificate, namespaceScope, verbsFor, withScope, type AuthMode, type CallAuth } from "./authorize.js";
export { AuthError, type AuthFailure } from "./errors.js";
export { compressPublicKey, generateP256Key, importCompressedKey, parsePrivateKeyPem, signWith } from "./keys.js";
export { PROOF_HEADER, PROOF_TIME_HEADER, proofHeaders, SESSION_HEADER } from "./proof.js";
export { decodeBinaryHeader, encodeToken, issueToken, parseVerb, uuidString, verbName, verifyToken, type Session, type TokenClaims } from "./token.js";

/** The settings of the auth component: a slice of ServeConfig, so the two cannot drift apart. */
export type AuthConfig = Pick<
  ServeConfig,
  | "authMode"
  | "authIssuerKeyPath"
  | "authClockSkewMs"
  | "authMaxTtlMs"
  | "authAllowBearer"
  | "authRevokedPath"
  | "authBootstrapPath"
  | "authKubernetes"
  | "authKubernetesAudiences"
  | "authReloadIntervalMs"
  | "caCertPath"
>;

export interface AuthDeps {
  clock: Clock;
  registry: Registry;
  log: Logger;
}

/** Authentication and authorisation of the RPC port (docs/auth.md), built by the server. */
export interface Auth {
  /** The Connect interceptor: decides every call and sets {@link kCallAuth}. */
  readonly interceptor: Interceptor;
  /** Wraps the per-request context values with the TLS client certificate. */
  contextValues(base: (req: http.IncomingMessage | http2.Http2ServerRequest) => ContextValues): (req: http.IncomingMessage | http2.Http2ServerRequest) => ContextValues;
  /**
   * The reporting node of a fast-lane ingest stream (raw HTTP/2 headers): the token's node, else
   * the peer IP. Throws {@link AuthError} to refuse the stream.
   */
  ingestNodeOf(headers: http2.IncomingHttpHeaders, peerIp: string): string;
  /**
   * Decides a fast-lane call from its raw HTTP/2 headers (`:path` names the method) exactly as
   * {@link interceptor} decides a Connect call; `socket` is the connection, for its TLS client
   * certificate. Throws {@link AuthError} to refuse the call.
   */
  authorizeHeaders(headers: http2.IncomingHttpHeaders, socket?: net.Socket): CallAuth;
  /** tributary.session.v1.SessionService. */
  readonly sessionService: ReturnType<typeof sessionService>;
  /** Starts polling the key, revocation and bootstrap files. */
  start(): void;
  stop(): void;
  /** Re-reads the files now (what the poll does); errors keep the previous contents. */
  reload(): void;
}

/**
 * Builds the auth component; reads its files now, so a bad file stops start-up with the
 * variable's name ({@link ConfigError}), and checks that the mode is enforceable.
 */
export function createAuth(config: AuthConfig, deps: AuthDeps): Auth {
  const { mode } = { mode: config.authMode };
  if ((mode === "mtls" || mode === "mtls+token") && config.caCertPath === "") {
    throw new ConfigError("AUTH_MODE", `"${mode}" needs client certificates: set CA_CERT_PATH (with SERVER_CERT_PATH and SERVER_KEY_PATH)`);
  }
  if ((mode === "token" || mode === "mtls+token") && config.authIssuerKeyPath === "") {
    throw new ConfigError("AUTH_MODE", `"${mode}" needs issuer keys to verify tokens: set AUTH_ISSUER_KEY_PATH`);
  }
  const metrics = authMetrics(deps.registry);
  const log = deps.log;
  const keyring: Keyring | undefined = config.authIssuerKeyPath ? loadKeyring(config.authIssuerKeyPath) : undefined;
  let revoked: RevocationList = loadRevocationList(config.authRevokedPath);
  let bootstrap: Bootstrap = loadBootstrap(config.authBootstrapPath);
  const skewSec = config.authClockSkewMs / 1000;
  const nowSec = () => deps.clock.nowSec();
  const gauges = () => {
    metrics.issuerKeys.set(keyring?.keys().length ?? 0);
    metrics.revoked.set(revoked.size);
  };
  gauges();

  const authorize: Authorizer = createAuthorizer({
    mode,
    allowBearer: config.authAllowBearer,
    skewSec,
    nowSec,
    proofs: createProofChecker(skewSec),
    metrics,
    verify: keyring
      ? {
          skewSec,
          issuerKey: (c) => keyring.find(c)?.publicKey,
          isRevoked: (id) => revoked.has(id),
        }
      : undefined,
  });

  const interceptor: Interceptor = (next) => async (req) => {
    let a: CallAuth;
    try {
      a = authorize({
        path: `/${req.service.typeName}/${req.method.name}`,
        header: (n) => req.header.get(n) ?? undefined,
        clientCertificate: req.contextValues.get(kClientCertificate),
      });
    } catch (e) {
      if (e instanceof AuthError) throw new ConnectError(e.message, e.code);
      throw e;
    }
    req.contextValues.set(kCallAuth, a);
    return next(req);
  };

  const reload = () => {
    const attempt = (file: string, f: () => void) => {
      try {
        f();
      } catch (e) {
        metrics.reloadErrors.labels(file).inc();
        log.warn({ file, err: (e as Error).message }, "cannot re-read an auth file; keeping its previous contents");
      }
    };
    if (keyring) attempt("issuer_keys", () => keyring.reload());
    attempt("revoked", () => revoked.reload());
    attempt("bootstrap", () => (bootstrap = loadBootstrap(config.authBootstrapPath)));
    gauges();
  };
  let timer: NodeJS.Timeout | undefined;

  return {
    interceptor,
    contextValues: (base) => (req) => {
      const values = base(req);
      values.set(kClientCertificate, clientCertificateOf(req));
      return values;
    },
    authorizeHeaders(headers, socket) {
      return authorize({
        path: String(headers[":path"] ?? ""),
        header: (n) => {
          const v = headers[n];
          return Array.isArray(v) ? v.join(",") : v;
        },
        // The same certificate the Connect path reads from the request's socket.
        clientCertificate: socket ? clientCertificateOf({ socket } as http2.Http2ServerRequest) : undefined,
      });
    },
    ingestNodeOf(headers, peerIp) {
      const a = authorize({
        path: String(headers[":path"] ?? ""),
        header: (n) => {
          const v = headers[n];
          return Array.isArray(v) ? v.join(",") : v;
        },
        // The fast lane is HTTP/2 only; with CA_CERT_PATH the handshake refused any connection
        // without a verified certificate before this stream could open.
        clientCertificate: undefined,
      });
      return a.session?.node || peerIp;
    },
    sessionService: sessionService({
      keyring,
      bootstrap: () => bootstrap,
      reviewer: config.authKubernetes ? kubernetesTokenReviewer(config.authKubernetes, config.authKubernetesAudiences) : undefined,
      maxTtlSec: Math.floor(config.authMaxTtlMs / 1000),
      allowBearer: config.authAllowBearer,
      nowSec,
      metrics,
      log,
    }),
    start() {
      if (timer || config.authReloadIntervalMs <= 0) return;
      timer = setInterval(reload, config.authReloadIntervalMs);
      timer.unref();
      log.info({ mode, issuerKeys: keyring?.keys().length ?? 0, signer: keyring?.signer()?.id, allowBearer: config.authAllowBearer, skewSec }, "auth configured");
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    reload,
  };
}
