import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  CreateRequest_BodySchema,
  CreateResponse_BodySchema,
  CreateResponseSchema,
  Verb,
  type CreateRequest,
  type CreateResponse,
  type SessionService,
} from "../gen/tributary/session/v1/session_pb.js";
import type { Logger } from "../observability/logger.js";
import { kClientCertificate } from "./authorize.js";
import type { Bootstrap, Grant } from "./bootstrap.js";
import { importCompressedKey, verifyWith } from "./keys.js";
import type { Keyring } from "./keyring.js";
import type { AuthMetrics } from "./metrics.js";
import type { TokenReviewer } from "./token-review.js";
import { encodeToken, issueToken, uuidString, verbName } from "./token.js";

export interface SessionServiceDeps {
  keyring?: Keyring;
  bootstrap: () => Bootstrap;
  reviewer?: TokenReviewer;
  maxTtlSec: number;
  allowBearer: boolean;
  nowSec: () => number;
  metrics: AuthMetrics;
  log: Logger;
}

/** How the caller of Create proved who it is. */
type Method = "bootstrap" | "kubernetes" | "mtls" | "none";

interface Principal {
  method: Method;
  owner: string;
  grant: Grant;
  /** A node the token must carry (certificate CN, ServiceAccount node claim, fixed grant node). */
  boundNode?: string;
}

const ALL_VERBS = [Verb.INGEST, Verb.QUERY, Verb.OFFLOAD];

class CreateError extends ConnectError {
  constructor(
    message: string,
    code: Code,
    readonly method: Method,
    readonly outcome: string,
  ) {
    super(message, code);
  }
}

/**
 * tributary.session.v1.SessionService (docs/auth.md "Getting a token"). Create authenticates the
 * caller by a bootstrap secret or a Kubernetes ServiceAccount token (`authorization: Bearer`), else
 * by its mTLS client certificate; checks the request against the caller's grant; and returns a
 * token signed by the newest issuer key, bound to the caller's session key when one is given.
 */
export function sessionService(d: SessionServiceDeps): Partial<ServiceImpl<typeof SessionService>> {
  async function authenticate(ctx: HandlerContext): Promise<Principal> {
    const authz = ctx.requestHeader.get("authorization");
    const bearer = authz && /^bearer\s+/i.test(authz) ? authz.replace(/^bearer\s+/i, "").trim() : undefined;
    if (bearer) {
      const entry = d.bootstrap().bySecret(bearer);
      if (entry) return { method: "bootstrap", owner: entry.name, grant: entry, boundNode: entry.node || undefined };
      if (d.reviewer) {
        let reviewed;
        try {
          reviewed = await d.reviewer(bearer);
        } catch (e) {
          d.log.warn({ err: (e as Error).message }, "TokenReview failed");
          throw new CreateError("cannot check the ServiceAccount token (TokenReview failed)", Code.Unavailable, "kubernetes", "review_failed");
        }
        if (!reviewed) throw new CreateError("ServiceAccount token not authenticated", Code.Unauthenticated, "kubernetes", "unauthenticated");
        const entry = reviewed.serviceAccount ? d.bootstrap().byServiceAccount(reviewed.serviceAccount) : undefined;
        if (!entry) throw new CreateError(`${reviewed.username} has no grant in AUTH_BOOTSTRAP_PATH`, Code.PermissionDenied, "kubernetes", "no_grant");
        return { method: "kubernetes", owner: reviewed.username, grant: entry, boundNode: entry.node || reviewed.nodeName };
      }
      throw new CreateError("unknown bearer credential", Code.Unauthenticated, "bootstrap", "unauthenticated");
    }
    const cert = ctx.values.get(kClientCertificate);
    if (cert) {
      // Goldmane parity: a CA-signed certificate may ingest and query; ingest is bound to its CN,
      // as calico-node's node-certs name the node.
      return { method: "mtls", owner: cert.subject, grant: { name: cert.subject, verbs: ALL_VERBS, node: "", namespaces: [] }, boundNode: cert.subject };
    }
    throw new CreateError("no credentials: present a client certificate or authorization: Bearer <bootstrap secret | ServiceAccount token>", Code.Unauthenticated, "none", "unauthenticated");
  }

  function decide(req: CreateRequest, p: Principal, now: number) {
    const deny = (msg: string) => new CreateError(msg, Code.PermissionDenied, p.method, "denied");
    const invalid = (msg: string) => new CreateError(msg, Code.InvalidArgument, p.method, "invalid");
    const b = req.body;
    if (!b) throw invalid("body: required");
    if (b.verb !== Verb.INGEST && b.verb !== Verb.QUERY && b.verb !== Verb.OFFLOAD) throw invalid(`body.verb: must be INGEST, QUERY or OFFLOAD, got ${b.verb}`);
    if (!p.grant.verbs.includes(b.verb)) throw deny(`${p.owner} may not obtain ${verbName(b.verb).toUpperCase()} tokens`);
    if (b.ownerId && b.ownerId.value.length > 0 && new TextDecoder().decode(b.ownerId.value) !== p.owner) throw deny(`body.owner_id: must be the authenticated identity "${p.owner}"`);
    let node = "";
    let namespaces: string[] = [];
    if (b.verb === Verb.QUERY) {
      const allowed = p.grant.namespaces;
      if (allowed.length > 0) {
        const outside = b.namespaces.filter((n) => !allowed.includes(n));
        if (outside.length > 0) throw deny(`body.namespaces: ${outside.join(", ")} outside the grant (${allowed.join(", ")})`);
        namespaces = b.namespaces.length > 0 ? [...b.namespaces] : [...allowed];
      } else namespaces = [...b.namespaces];
    } else if (p.boundNode) {
      if (b.nodeName !== "" && b.nodeName !== p.boundNode) throw deny(`body.node_name: "${b.nodeName}" is not "${p.boundNode}", the node ${p.owner} is bound to`);
      node = p.boundNode;
    } else if (p.method === "kubernetes" && b.verb === Verb.INGEST) {
      throw deny(`${p.owner}: no node binding (no node claim in the ServiceAccount token and no node in its grant)`);
    } else {
      node = b.nodeName || p.owner;
    }
    const exp = Number(b.expiration);
    if (exp !== 0 && exp <= now) throw invalid(`body.expiration: ${exp} is not in the future`);
    const ttlSec = Math.min(exp === 0 ? d.maxTtlSec : exp - Math.floor(now), d.maxTtlSec);
    let sessionKey: Uint8Array | undefined;
    if (b.sessionKey.length > 0) {
      let key;
      try {
        key = importCompressedKey(b.sessionKey);
      } catch {
        throw invalid("body.session_key: must be a 33-byte compressed P-256 public key");
      }
      const sig = req.verifyHeader?.bodySignature;
      const ok =
        sig !== undefined &&
        Buffer.from(sig.key).equals(Buffer.from(b.sessionKey)) &&
        verifyWith(key, toBinary(CreateRequest_BodySchema, b, { writeUnknownFields: false }), sig.sign, sig.scheme);
      if (!ok) throw new CreateError("verify_header.body_signature: must be a signature of the body by session_key (proof of possession)", Code.Unauthenticated, p.method, "bad_proof");
      sessionKey = b.sessionKey;
    } else if (!d.allowBearer) {
      throw new CreateError("body.session_key: required, bearer tokens are not accepted (AUTH_ALLOW_BEARER=false)", Code.FailedPrecondition, p.method, "bearer_refused");
    }
    return { verb: b.verb, owner: p.owner, node, namespaces, ttlSec, sessionKey };
  }

  return {
    async create(req: CreateRequest, ctx: HandlerContext): Promise<CreateResponse> {
      let method: Method = "none";
      try {
        const signer = d.keyring?.signer();
        if (!signer?.privateKey) throw new CreateError("this server does not issue tokens (no private key in AUTH_ISSUER_KEY_PATH)", Code.FailedPrecondition, "none", "no_issuer");
        const p = await authenticate(ctx);
        method = p.method;
        const now = d.nowSec();
        const claims = decide(req, p, now);
        const token = issueToken(signer.privateKey, claims, now);
        d.metrics.created.labels("ok", method).inc();
        d.log.info({ owner: claims.owner, verb: verbName(claims.verb), node: claims.node, ttlSec: claims.ttlSec, id: uuidString(token.body!.id), keyId: signer.id, method }, "session token issued");
        return create(CreateResponseSchema, {
          body: create(CreateResponse_BodySchema, { id: token.body!.id, sessionKey: claims.sessionKey ?? new Uint8Array(0), token }),
        });
      } catch (e) {
        if (e instanceof CreateError) {
          d.metrics.created.labels(e.outcome, e.method === "none" ? method : e.method).inc();
          throw new ConnectError(e.rawMessage, e.code);
        }
        throw e;
      }
    },
  };
}

