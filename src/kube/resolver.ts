import { LRUCache } from "lru-cache";
import { normalizeAddress, type EndpointIdentity, type IpIndex, type ServiceIdentity } from "./ip-index.js";

/** What an address resolved to. `undefined` fields = not a Kubernetes object. */
export interface Resolution {
  /** Normalised address text ("" when the input was not an address). */
  address: string;
  endpoint?: EndpointIdentity;
  service?: ServiceIdentity;
}

/** Outcome counters a resolver reports (the bridge turns them into metrics). */
export interface ResolverObserver {
  /** `hit` = the address is a pod, node or service; `miss` = unknown (becomes Network). */
  resolved(outcome: "hit" | "miss"): void;
  /** Whether the answer came from the LRU cache. */
  cache(outcome: "hit" | "miss"): void;
}

/** Address → Kubernetes identity, with an LRU cache in front of the {@link IpIndex}. */
export interface Resolver {
  resolve(address: string): Resolution;
  /** Drops the cached answer for an address (the index calls this on every change). */
  invalidate(address: string): void;
}

const NONE: ResolverObserver = { resolved: () => undefined, cache: () => undefined };

/**
 * Creates a resolver over `index` (or over nothing: every address is unknown, the no-cluster
 * mode). Answers are cached (lru-cache, `max` entries); the index invalidates the addresses it
 * changes, so a cached answer is never staler than the informers.
 */
export function createResolver(index: IpIndex | undefined, options: { max: number }, observer: ResolverObserver = NONE): Resolver {
  const cache = new LRUCache<string, Resolution>({ max: options.max });
  return {
    resolve(address) {
      const key = normalizeAddress(address);
      let r = cache.get(key);
      if (r) observer.cache("hit");
      else {
        observer.cache("miss");
        r = { address: key };
        const endpoint = key && index ? index.endpoint(key) : undefined;
        const service = key && index ? index.service(key) : undefined;
        if (endpoint) r.endpoint = endpoint;
        if (service) r.service = service;
        cache.set(key, r);
      }
      observer.resolved(r.endpoint || r.service ? "hit" : "miss");
      return r;
    },
    invalidate(address) {
      cache.delete(address);
    },
  };
}
