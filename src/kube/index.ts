/**
 * Public surface of `kube/`: Kubernetes identities for addresses (informers on Pods, Services and
 * Nodes, an address index and a cached resolver). Used by the offload bridge.
 */
export { IpIndex, normalizeAddress, type EndpointIdentity, type NodeLike, type PodLike, type ServiceIdentity, type ServiceLike, type ServicePort } from "./ip-index.js";
export { createResolver, type Resolution, type Resolver, type ResolverObserver } from "./resolver.js";
export { createKubeWatch, type KubeResource, type KubeWatch, type KubeWatchDeps } from "./informers.js";
export { loadKubeConfig, SERVICE_ACCOUNT_TOKEN, type KubeConfigSource } from "./kube-config.js";
