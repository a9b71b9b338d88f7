import { ConfigError } from "../config/parse.js";

/** What TokenReview says about a ServiceAccount token. */
export interface ReviewedToken {
  /** e.g. `system:serviceaccount:calico-system:calico-node`. */
  readonly username: string;
  /** "namespace/name" when the user is a ServiceAccount. */
  readonly serviceAccount?: string;
  /** The node the token's pod runs on (`authentication.kubernetes.io/node-name`, Kubernetes ≥ 1.30). */
  readonly nodeName?: string;
}

/** Checks a bearer token with the Kubernetes API; undefined when it is not authenticated. */
export type TokenReviewer = (token: string) => Promise<ReviewedToken | undefined>;

const SA_PREFIX = "system:serviceaccount:";
const NODE_CLAIM = "authentication.kubernetes.io/node-name";

/**
 * A {@link TokenReviewer} through `@kubernetes/client-node` (POST
 * /apis/authentication.k8s.io/v1/tokenreviews). `source` is "in-cluster" (the pod's own
 * ServiceAccount, which needs `create` on tokenreviews, e.g. the `system:auth-delegator` role) or a
 * kubeconfig path. `audiences` narrows which tokens are accepted: a token minted for Tributary
 * (projected with that audience) cannot be replayed against the API server and vice versa.
 * The client library is imported on first use, so servers without it configured never load it.
 */
export function kubernetesTokenReviewer(source: string, audiences: readonly string[]): TokenReviewer {
  let api: Promise<{ createTokenReview(p: { body: object }): Promise<{ status?: { authenticated?: boolean; user?: { username?: string; extra?: Record<string, string[]> } } }> }> | undefined;
  const client = () =>
    (api ??= import("@kubernetes/client-node").then((k8s) => {
      const kc = new k8s.KubeConfig();
      try {
        if (source === "in-cluster") kc.loadFromCluster();
        else kc.loadFromFile(source);
      } catch (e) {
        throw new ConfigError("AUTH_KUBERNETES", (e as Error).message);
      }
      return kc.makeApiClient(k8s.AuthenticationV1Api);
    }));
  return async (token) => {
    const res = await (await client()).createTokenReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: audiences.length ? [...audiences] : undefined } },
    });
    const st = res.status;
    if (!st?.authenticated || !st.user?.username) return undefined;
    const username = st.user.username;
    const sa = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(":") : undefined;
    return {
      username,
      serviceAccount: sa && sa.length === 2 ? `${sa[0]}/${sa[1]}` : undefined,
      nodeName: st.user.extra?.[NODE_CLAIM]?.[0],
    };
  };
}
