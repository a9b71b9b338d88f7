import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

/**
 * A small in-process fake of the Kubernetes API server (reference ecosystem.md §4): no real API
 * server can run here. It serves list + watch for pods, services and nodes the way the real one
 * does for `@kubernetes/client-node` informers:
 * - `GET /api/v1/{pods,services,nodes}` → a `*List` with `metadata.resourceVersion`;
 * - `?watch=true&resourceVersion=N` → a chunked JSON-lines stream of `{type, object}` events
 *   newer than N, kept open for later events.
 * Objects are recorded API responses (the JSON a real API server returns, trimmed). ConfigMaps
 * can be read, created and replaced (with resourceVersion conflicts), for the emitter's progress.
 * Limits: no field or label selectors, no bookmarks, no RBAC, no validation.
 */
export type Resource = "pods" | "services" | "nodes";

const KIND: Record<Resource, string> = { pods: "Pod", services: "Service", nodes: "Node" };

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FakeKubeApi {
  readonly url: string;
  /** Requests seen, e.g. `GET /api/v1/pods?watch=true&resourceVersion=3`. */
  readonly requests: string[];
  add(resource: Resource, obj: Obj): void;
  modify(resource: Resource, obj: Obj): void;
  remove(resource: Resource, obj: Obj): void;
  /** Destroys every open watch socket abruptly (the informer errors and must be restarted). */
  dropWatches(): void;
  /** Makes the next `n` list requests of a resource fail with HTTP 500. */
  failLists(resource: Resource, n: number): void;
  /** A stored ConfigMap (get/create/replace are served under /api/v1/namespaces/{ns}/configmaps). */
  configMap(namespace: string, name: string): Obj | undefined;
  /** Stores a ConfigMap as if another client had written it. */
  putConfigMap(obj: Obj): void;
  /** Makes the next `n` ConfigMap requests fail with HTTP 500. */
  failConfigMaps(n: number): void;
  kubeConfig(): KubeConfig;
  /** A kubeconfig file's YAML/JSON text pointing at this server. */
  kubeconfigText(): string;
  close(): Promise<void>;
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  let rv = 100;
  const store: Record<Resource, Map<string, Obj>> = { pods: new Map(), services: new Map(), nodes: new Map() };
  const log: Record<Resource, { rv: number; type: string; object: Obj }[]> = { pods: [], services: [], nodes: [] };
  const watchers: Record<Resource, Set<{ res: http.ServerResponse; since: number }>> = { pods: new Set(), services: new Set(), nodes: new Set() };
  const failing: Record<Resource, number> = { pods: 0, services: 0, nodes: 0 };
  const requests: string[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const key = (o: Obj) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;

  const emit = (resource: Resource, type: string, obj: Obj) => {
    rv++;
    const object = { apiVersion: "v1", kind: KIND[resource], ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
    if (type === "DELETED") store[resource].delete(key(obj));
    else store[resource].set(key(obj), object);
    log[resource].push({ rv, type, object });
    for (const w of watchers[resource]) w.res.write(`${JSON.stringify({ type, object })}\n`);
  };

  const configMaps = new Map<string, Obj>();
  let failingConfigMaps = 0;
  const status = (res: http.ServerResponse, code: number, reason: string) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason }));
  };
  /** ConfigMap get/create/replace with resourceVersion checks, as the API server does them. */
  const serveConfigMap = (req: http.IncomingMessage, res: http.ServerResponse, ns: string, name: string | undefined) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => {
      if (failingConfigMaps > 0) {
        failingConfigMaps--;
        status(res, 500, "InternalError");
        return;
      }
      const send = (code: number, o: Obj) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(o));
      };
      if (req.method === "GET" && name) {
        const cm = configMaps.get(`${ns}/${name}`);
        if (cm) send(200, cm);
        else status(res, 404, "NotFound");
        return;
      }
      const obj = JSON.parse(body) as Obj;
      if (req.method === "POST" && !name) {
        if (configMaps.has(`${ns}/${obj.metadata.name}`)) return status(res, 409, "AlreadyExists");
        rv++;
        const stored = { ...obj, apiVersion: "v1", kind: "ConfigMap", metadata: { ...obj.metadata, namespace: ns, resourceVersion: String(rv) } };
        configMaps.set(`${ns}/${obj.metadata.name}`, stored);
        return send(201, stored);
      }
      if (req.method === "PUT" && name) {
        const cur = configMaps.get(`${ns}/${name}`);
        if (!cur) return status(res, 404, "NotFound");
        if (obj.metadata.resourceVersion !== cur.metadata.resourceVersion) return status(res, 409, "Conflict");
        rv++;
        const stored = { ...obj, apiVersion: "v1", kind: "ConfigMap", metadata: { ...obj.metadata, namespace: ns, resourceVersion: String(rv) } };
        configMaps.set(`${ns}/${name}`, stored);
        return send(200, stored);
      }
      status(res, 405, "MethodNotAllowed");
    });
  };

  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? "/", "http://x");
    const cmPath = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/.exec(url.pathname);
    if (cmPath) {
      serveConfigMap(req, res, decodeURIComponent(cmPath[1]!), cmPath[2] === undefined ? undefined : decodeURIComponent(cmPath[2]));
      return;
    }
    const m = /^\/api\/v1\/(?:namespaces\/[^/]+\/)?(pods|services|nodes)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 404, reason: "NotFound" }));
      return;
    }
    const resource = m[1] as Resource;
    if (url.searchParams.get("watch") === "true") {
      const since = Number(url.searchParams.get("resourceVersion") ?? "0");
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      // A real API server sends the headers at once; client-node's start() waits for them.
      res.flushHeaders();
      for (const e of log[resource]) if (e.rv > since) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
      const w = { res, since };
      watchers[resource].add(w);
      res.on("close", () => watchers[resource].delete(w));
      return;
    }
    if (failing[resource] > 0) {
      failing[resource]--;
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 500, reason: "InternalError" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: `${KIND[resource]}List`, apiVersion: "v1", metadata: { resourceVersion: String(rv) }, items: [...store[resource].values()] }));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = {
    clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
    users: [{ name: "tester", token: "test-token" }],
    contexts: [{ name: "fake", cluster: "fake", user: "tester" }],
    currentContext: "fake",
  };
  return {
    url,
    requests,
    add: (r, o) => emit(r, "ADDED", o),
    modify: (r, o) => emit(r, "MODIFIED", o),
    remove: (r, o) => emit(r, "DELETED", o),
    dropWatches() {
      for (const set of Object.values(watchers)) {
        for (const w of set) w.res.socket?.destroy();
        set.clear();
      }
    },
    failLists: (r, n) => {
      failing[r] = n;
    },
    configMap: (ns, name) => configMaps.get(`${ns}/${name}`),
    putConfigMap(obj) {
      rv++;
      const ns = obj.metadata.namespace ?? "default";
      configMaps.set(`${ns}/${obj.metadata.name}`, { ...obj, apiVersion: "v1", kind: "ConfigMap", metadata: { ...obj.metadata, namespace: ns, resourceVersion: String(rv) } });
    },
    failConfigMaps: (n) => {
      failingConfigMaps = n;
    },
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions(config);
      return kc;
    },
    kubeconfigText: () =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        // client-node refuses http:// unless insecure-skip-tls-verify is set.
        clusters: [{ name: "fake", cluster: { server: url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "tester", user: { token: "test-token" } }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "tester" } }],
        "current-context": "fake",
      }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A recorded Pod (trimmed API response) of a Deployment's ReplicaSet. */
export function recordedPod(o: { name: string; namespace: string; ip: string; node: string; generateName?: string; labels?: Record<string, string>; hostNetwork?: boolean }): Obj {
  return {
    metadata: {
      name: o.name,
      namespace: o.namespace,
      ...(o.generateName !== undefined ? { generateName: o.generateName } : {}),
      uid: `uid-${o.namespace}-${o.name}`,
      labels: o.labels ?? {},
      ownerReferences: o.generateName ? [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: o.generateName.replace(/-$/, ""), uid: "rs-uid", controller: true }] : undefined,
    },
    spec: { nodeName: o.node, hostNetwork: o.hostNetwork ?? false, containers: [{ name: "app", image: "registry.k8s.io/pause:3.9" }] },
    status: { phase: "Running", podIP: o.ip, podIPs: [{ ip: o.ip }], hostIP: "192.168.1.10" },
  };
}

/** A recorded ClusterIP Service. */
export function recordedService(o: { name: string; namespace: string; clusterIP: string; ports: { name?: string; port: number; protocol?: string; targetPort?: number }[] }): Obj {
  return {
    metadata: { name: o.name, namespace: o.namespace, uid: `uid-svc-${o.name}` },
    spec: { type: "ClusterIP", clusterIP: o.clusterIP, clusterIPs: [o.clusterIP], ports: o.ports.map((p) => ({ protocol: "TCP", targetPort: p.port, ...p })), selector: { app: o.name } },
    status: { loadBalancer: {} },
  };
}

/** A recorded Node. */
export function recordedNode(o: { name: string; ip: string; labels?: Record<string, string> }): Obj {
  return {
    metadata: { name: o.name, uid: `uid-node-${o.name}`, labels: { "kubernetes.io/hostname": o.name, ...(o.labels ?? {}) } },
    spec: { podCIDR: "10.244.0.0/24" },
    status: { addresses: [{ type: "InternalIP", address: o.ip }, { type: "Hostname", address: o.name }] },
  };
}
