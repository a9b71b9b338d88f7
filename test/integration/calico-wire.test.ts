import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FilterHintsResultSchema,
  FilterType,
  FlowCollector,
  FlowListResultSchema,
  FlowResultSchema,
  Flows,
  MatchType,
  PolicyKind,
  SortBy,
  Statistics,
  StatisticsGroupBy,
  StatisticsResultSchema,
  type FlowUpdate,
} from "../../src/gen/goldmane/api_pb.js";
import { rawGrpcCall } from "../helpers/raw-grpc.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { ROOT } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// Issue 13 items 1–3: both PolicyMatch encodings (Calico v3.32 StringMatch, v3.30/v3.31 strings),
// v3.31's PolicyKind 7/8, strict Connect JSON, INVALID_ARGUMENT for undecodable bodies.

const T0 = 1_700_000_010;
const W = 15;
const old = T0 - 4 * W;

const hit = (kind: number, namespace: string, name: string, tier: string, action: number) => ({ kind, namespace, name, tier, action, policyIndex: 0n, ruleIndex: 0n });
const updates: FlowUpdate[] = [
  wireUpdate(old, { destName: "dns-*", policies: { enforcedPolicies: [hit(1, "kube-system", "allow-dns", "default", 1)] } }),
  wireUpdate(old, { destName: "db-*", action: 2, policies: { enforcedPolicies: [hit(2, "", "deny-all", "security", 2)] } }),
  wireUpdate(old, { destName: "anp-*", policies: { enforcedPolicies: [hit(7, "", "anp-1", "adminnetworkpolicy", 1)] } }),
  wireUpdate(old, { destName: "banp-*", action: 2, policies: { enforcedPolicies: [hit(8, "", "banp-1", "baselineadminnetworkpolicy", 2)] } }),
];
const ALL = ["anp-*", "banp-*", "db-*", "dns-*"];

let ts: TestServer;
let tmp: string;
beforeAll(async () => {
  ts = await startTestServer({}, T0);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "calico-wire-"));
  const client = createClient(FlowCollector, createGrpcTransport({ baseUrl: ts.baseUrl }));
  async function* gen() {
    yield* updates;
  }
  let receipts = 0;
  for await (const _ of client.connect(gen())) receipts++;
  expect(receipts).toBe(updates.length);
}, 60_000);
afterAll(async () => {
  await ts?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- a minimal protobuf writer: requests as raw bytes, no protobuf library involved ----
const te = new TextEncoder();
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}
const lenField = (field: number, body: number[] | Uint8Array): number[] => [...varint(field * 8 + 2), ...varint(body.length), ...body];
const strField = (field: number, s: string): number[] => lenField(field, te.encode(s));
const intField = (field: number, v: number): number[] => [...varint(field * 8), ...varint(v)];
/** StringMatch { value = 1; type = 2 } as Calico v3.32 encodes it. */
const stringMatch = (value: string, type = 0): number[] => [...(value ? strField(1, value) : []), ...(type ? intField(2, type) : [])];
const bytes = (...parts: number[][]) => Uint8Array.from(parts.flat());

const destNames = (flows: { flow?: { Key?: { destName: string } } }[]) => flows.map((f) => f.flow?.Key?.destName ?? "").sort();

describe("PolicyMatch as raw protobuf bytes over gRPC", () => {
  // FlowListRequest.filter (6) → Filter.policies (8) → PolicyMatch.name (4)
  const list = async (policy: number[]) => {
    const r = await rawGrpcCall(ts.port, "/goldmane.Flows/List", bytes(lenField(6, lenField(8, policy))));
    expect(r.status, r.message).toBe(0);
    return destNames(fromBinary(FlowListResultSchema, r.payloads[0]!).flows);
  };

  it("v3.32 encoding: name, tier, namespace as StringMatch messages (Exact, Fuzzy, empty = any)", async () => {
    expect(await list(lenField(4, stringMatch("allow-dns")))).toEqual(["dns-*"]);
    expect(await list(lenField(4, stringMatch("dns", MatchType.Fuzzy)))).toEqual(["dns-*"]);
    expect(await list(lenField(4, stringMatch("dns")))).toEqual([]);
    expect(await list(lenField(2, stringMatch("admin", MatchType.Fuzzy)))).toEqual(["anp-*", "banp-*"]);
    expect(await list(lenField(3, stringMatch("kube-system")))).toEqual(["dns-*"]);
    // whisker-backend sends all three, empty when unset: matches every flow with a policy hit
    expect(await list([...lenField(2, []), ...lenField(3, []), ...lenField(4, [])])).toEqual(ALL);
    expect(await list([...lenField(2, stringMatch("", MatchType.Fuzzy)), ...lenField(4, stringMatch("deny-all"))])).toEqual(["db-*"]);
  });

  it("v3.31 encoding: plain strings in the same field numbers, matched exactly", async () => {
    expect(await list(strField(4, "allow-dns"))).toEqual(["dns-*"]);
    expect(await list(strField(4, "dns"))).toEqual([]);
    expect(await list([...strField(2, "security"), ...strField(4, "deny-all")])).toEqual(["db-*"]);
    // a name whose bytes happen to parse as other protobuf fields is still a string
    expect(await list(strField(4, "default"))).toEqual([]);
  });

  it("encodings mix per field; PolicyKind 7/8 filter as sent", async () => {
    expect(await list([...strField(2, "default"), ...lenField(4, stringMatch("allow", MatchType.Fuzzy))])).toEqual(["dns-*"]);
    expect(await list(intField(1, 7))).toEqual(["anp-*"]);
    expect(await list(intField(1, 8))).toEqual(["banp-*"]);
  });

  it("FilterHints and Statistics take both encodings", async () => {
    // FilterHintsRequest{type = PolicyName, filter{policies{tier}}}
    const hints = async (tier: number[]) => {
      const r = await rawGrpcCall(ts.port, "/goldmane.Flows/FilterHints", bytes(intField(1, FilterType.FilterTypePolicyName), lenField(2, lenField(8, lenField(2, tier)))));
      expect(r.status, r.message).toBe(0);
      return fromBinary(FilterHintsResultSchema, r.payloads[0]!).hints.map((h) => h.value);
    };
    expect(await hints(stringMatch("admin", MatchType.Fuzzy))).toEqual(["anp-1", "banp-1"]);
    expect(await hints([...te.encode("security")])).toEqual(["deny-all"]);
    // StatisticsRequest{policy_match (5){name}}
    const stats = async (name: number[]) => {
      const r = await rawGrpcCall(ts.port, "/goldmane.Statistics/List", bytes(lenField(5, lenField(4, name))));
      return { status: r.status, names: r.payloads.map((p) => fromBinary(StatisticsResultSchema, p).policy?.name ?? "") };
    };
    expect(await stats(stringMatch("deny", MatchType.Fuzzy))).toEqual({ status: 0, names: ["deny-all"] });
    expect(await stats([...te.encode("allow-dns")])).toEqual({ status: 0, names: ["allow-dns"] });
    expect(await stats([...te.encode("deny")])).toEqual({ status: Code.NotFound, names: [""] });
  });

  it("Stream (gRPC fast lane) takes both encodings", async () => {
    const stream = async (name: number[]) => {
      // FlowStreamRequest{start_time_gte (1) = old, filter (2){policies{name}}}: the backfill, then cancel
      const r = await rawGrpcCall(ts.port, "/goldmane.Flows/Stream", bytes(intField(1, old), lenField(2, lenField(8, lenField(4, name)))), { cancelAfterMs: 300 });
      return destNames(r.payloads.map((p) => fromBinary(FlowResultSchema, p)));
    };
    expect(await stream(stringMatch("deny", MatchType.Fuzzy))).toEqual(["db-*"]);
    expect(await stream([...te.encode("anp-1")])).toEqual(["anp-*"]);
  });

  it("a field that is neither a StringMatch nor UTF-8 is INVALID_ARGUMENT naming it", async () => {
    const r = await rawGrpcCall(ts.port, "/goldmane.Flows/List", bytes(lenField(6, lenField(8, lenField(4, [0xff, 0xfe])))));
    expect(r.status).toBe(Code.InvalidArgument);
    expect(r.message).toBe("filter.policies[0].name: neither a StringMatch message nor a UTF-8 string");
  });

  it("an undecodable body is INVALID_ARGUMENT on every method", async () => {
    for (const m of ["/goldmane.Flows/List", "/goldmane.Flows/FilterHints", "/goldmane.Statistics/List", "/goldmane.Flows/Stream"]) {
      const r = await rawGrpcCall(ts.port, m, Uint8Array.from([0x0a, 0x05, 0x01]));
      expect(r.status, `${m}: ${r.message}`).toBe(Code.InvalidArgument);
      expect(r.message).toMatch(/cannot decode goldmane\.\w+Request/);
    }
  });
});

const transports: Record<string, (url: string) => Transport> = {
  grpc: (baseUrl) => createGrpcTransport({ baseUrl }),
  "grpc-web": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  "connect-binary": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  "connect-json": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }),
};

describe.each(Object.keys(transports))("the v3.32 encoding from generated clients over %s", (name) => {
  const t = () => transports[name]!(ts.baseUrl);

  it("List, FilterHints, Statistics and Stream filter by StringMatch", async () => {
    const flows = createClient(Flows, t());
    const fuzzyDns = { policies: [{ name: { value: "dns", type: MatchType.Fuzzy } }] };
    expect(destNames((await flows.list({ filter: fuzzyDns })).flows)).toEqual(["dns-*"]);
    expect(destNames((await flows.list({ filter: { policies: [{ tier: { value: "security" } }] } })).flows)).toEqual(["db-*"]);
    expect(destNames((await flows.list({ filter: { policies: [{ kind: 7 as PolicyKind }] } })).flows)).toEqual(["anp-*"]);
    const kinds = await flows.filterHints({ type: FilterType.FilterTypePolicyKind });
    expect(kinds.hints.map((h) => h.value)).toEqual(["AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "CalicoNetworkPolicy", "GlobalNetworkPolicy"]);
    const names = await flows.filterHints({ type: FilterType.FilterTypePolicyName, filter: { policies: [{ name: { value: "-", type: MatchType.Fuzzy } }] } });
    expect(names.hints.map((h) => h.value)).toEqual(["allow-dns", "anp-1", "banp-1", "deny-all"]);
    const stats = [];
    for await (const r of createClient(Statistics, t()).list({ groupBy: StatisticsGroupBy.Policy, policyMatch: { tier: { value: "admin", type: MatchType.Fuzzy } } })) stats.push(r);
    expect(stats.map((r) => `${r.policy?.kind}/${r.policy?.name}`).sort()).toEqual(["7/anp-1", "8/banp-1"]);
    const got: string[] = [];
    const ac = new AbortController();
    try {
      for await (const r of flows.stream({ startTimeGte: BigInt(old), filter: { policies: [{ name: { value: "anp", type: MatchType.Fuzzy } }] } }, { signal: ac.signal })) {
        got.push(r.flow?.Key?.destName ?? "");
        if (got.length === 2) ac.abort();
      }
    } catch (e) {
      if (ConnectError.from(e).code !== Code.Canceled) throw e;
    }
    expect(got.sort()).toEqual(["anp-*", "banp-*"]);
  });

  it("kinds 7 and 8 come back as they were sent", async () => {
    const res = await createClient(Flows, t()).list({ sortBy: [{ sortBy: SortBy.DestName }], filter: { policies: [{ tier: { value: "admin", type: MatchType.Fuzzy } }] } });
    expect(res.flows.map((f) => f.flow?.Key?.policies?.enforcedPolicies[0]?.kind)).toEqual([7, 8]);
  });
});

/** A Connect unary call with a raw body: the status and the parsed JSON answer. */
async function connectJson(method: string, body: string, contentType = "application/json"): Promise<{ status: number; json: any }> {
  const res = await fetch(`${ts.baseUrl}/${method}`, { method: "POST", headers: { "content-type": contentType }, body });
  return { status: res.status, json: await res.json() };
}

describe("Connect JSON", () => {
  const list = async (filter: unknown) => {
    const r = await connectJson("goldmane.Flows/List", JSON.stringify({ filter }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return (r.json.flows ?? []).map((f: any) => f.flow.Key.destName).sort();
  };

  it("accepts a string (v3.31) or a StringMatch object (v3.32) per field", async () => {
    expect(await list({ policies: [{ name: "allow-dns" }] })).toEqual(["dns-*"]);
    expect(await list({ policies: [{ name: { value: "dns", type: "Fuzzy" } }] })).toEqual(["dns-*"]);
    expect(await list({ policies: [{ name: { value: "dns", type: "Exact" } }] })).toEqual([]);
    expect(await list({ policies: [{ tier: "security", name: { value: "deny", type: 1 } }] })).toEqual(["db-*"]);
    expect(await list({ policies: [{ name: { value: "" }, tier: null }] })).toEqual(ALL);
    // Statistics is server-streaming: Connect enveloped JSON, v3.31's string
    const msg = Buffer.from(JSON.stringify({ policyMatch: { name: "allow-dns" } }));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.length, 1);
    const res = await fetch(`${ts.baseUrl}/goldmane.Statistics/List`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: Buffer.concat([head, msg]) });
    const text = Buffer.from(await res.arrayBuffer()).toString("utf8");
    expect(res.status).toBe(200);
    expect(text).toContain('"name":"allow-dns"');
    expect(text).not.toContain("deny-all");
  });

  it("accepts v3.31's PolicyKind names; answers 7 and 8 as numbers, readable by every client", async () => {
    expect(await list({ policies: [{ kind: "AdminNetworkPolicy" }] })).toEqual(["anp-*"]);
    expect(await list({ policies: [{ kind: "BaselineAdminNetworkPolicy" }] })).toEqual(["banp-*"]);
    const r = await connectJson("goldmane.Flows/List", JSON.stringify({ filter: { policies: [{ kind: 7 }] } }));
    expect(r.json.flows[0].flow.Key.policies.enforcedPolicies[0].kind).toBe(7);
  });

  it("refuses an unknown enum name or field with INVALID_ARGUMENT naming it", async () => {
    const cases: [string, string, RegExp][] = [
      ["goldmane.Flows/List", JSON.stringify({ filter: { actions: ["Bogus"] } }), /Bogus/],
      ["goldmane.Flows/List", JSON.stringify({ filter: { bogusField: 1 } }), /bogusField/],
      ["goldmane.Flows/FilterHints", JSON.stringify({ type: "FilterTypeNope" }), /FilterTypeNope/],
      ["goldmane.Flows/List", JSON.stringify({ filter: { policies: [{ name: { value: "x", typ: "Fuzzy" } }] } }), /filter\.policies\[0\]\.name: unknown field "typ"/],
      ["goldmane.Flows/List", JSON.stringify({ filter: { policies: [{ name: { value: "x", type: "Substring" } }] } }), /filter\.policies\[0\]\.name\.type: unknown MatchType "Substring"/],
      ["goldmane.Flows/List", JSON.stringify({ filter: { policies: [{ name: 42 }] } }), /filter\.policies\[0\]\.name: must be a string or a StringMatch object/],
    ];
    for (const [m, body, re] of cases) {
      const r = await connectJson(m, body);
      expect(r.status, body).toBe(400);
      expect(r.json.code, body).toBe("invalid_argument");
      expect(r.json.message, body).toMatch(re);
    }
  });

  it("an undecodable body is INVALID_ARGUMENT over Connect too (binary and JSON)", async () => {
    for (const m of ["goldmane.Flows/List", "goldmane.Flows/FilterHints"]) {
      const bin = await fetch(`${ts.baseUrl}/${m}`, { method: "POST", headers: { "content-type": "application/proto" }, body: Uint8Array.from([0x0a, 0x05, 0x01]) });
      expect(bin.status, m).toBe(400);
      expect(((await bin.json()) as { code: string }).code).toBe("invalid_argument");
      const json = await connectJson(m, "{not json");
      expect(json.status, m).toBe(400);
      expect(json.json.code).toBe("invalid_argument");
    }
  });
});

/** A proto for grpc-js clients: ours, or ours as Calico v3.30/v3.31 shipped it (strings, kinds 7/8). */
function protoFile(version: "v3.31" | "v3.32"): string {
  let src = fs.readFileSync(path.join(ROOT, "proto/goldmane/api.proto"), "utf8");
  if (version === "v3.31") {
    src = src
      .replace("StringMatch tier = 2;", "string tier = 2;")
      .replace("StringMatch namespace = 3;", "string namespace = 3;")
      .replace("StringMatch name = 4;", "string name = 4;")
      .replace(/reserved 7; *\n\s*reserved 8;/, "AdminNetworkPolicy = 7;\n  BaselineAdminNetworkPolicy = 8;");
    expect(src).toContain("string name = 4;");
    expect(src).toContain("AdminNetworkPolicy = 7;");
  }
  const file = path.join(tmp, version, "goldmane/api.proto");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, src);
  return file;
}

function grpcJs(version: "v3.31" | "v3.32") {
  const def = protoLoader.loadSync(protoFile(version), { keepCase: true, longs: String, enums: String, defaults: true });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pkg = (grpc.loadPackageDefinition(def) as any).goldmane;
  const addr = `127.0.0.1:${ts.port}`;
  const flows = new pkg.Flows(addr, grpc.credentials.createInsecure());
  const statistics = new pkg.Statistics(addr, grpc.credentials.createInsecure());
  const unary = (client: any, m: string, req: object) =>
    new Promise<any>((resolve, reject) => client[m](req, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
  const collect = (call: grpc.ClientReadableStream<any>, max = Infinity) =>
    new Promise<{ items: any[]; error: grpc.ServiceError | null }>((resolve) => {
      const items: any[] = [];
      call.on("data", (d) => {
        items.push(d);
        if (items.length >= max) call.cancel();
      });
      call.on("error", (error: grpc.ServiceError) => resolve({ items, error: error.code === grpc.status.CANCELLED ? null : error }));
      call.on("end", () => resolve({ items, error: null }));
    });
  return {
    list: (req: object) => unary(flows, "List", req),
    hints: (req: object) => unary(flows, "FilterHints", req),
    stats: (req: object) => collect(statistics.List(req)),
    stream: (req: object, max: number) => collect(flows.Stream(req), max),
    close: () => {
      flows.close();
      statistics.close();
    },
  };
}

describe("grpc-js clients with each Calico version's proto", () => {
  it("v3.31 (plain strings, AdminNetworkPolicy kinds): List, FilterHints, Statistics, Stream", async () => {
    const c = grpcJs("v3.31");
    try {
      const names = (r: any) => r.flows.map((f: any) => f.flow.Key.dest_name).sort();
      expect(names(await c.list({ filter: { policies: [{ name: "allow-dns" }] } }))).toEqual(["dns-*"]);
      expect(names(await c.list({ filter: { policies: [{ tier: "security", name: "deny-all" }] } }))).toEqual(["db-*"]);
      const anp = await c.list({ filter: { policies: [{ kind: "AdminNetworkPolicy" }] } });
      expect(names(anp)).toEqual(["anp-*"]);
      expect(anp.flows[0].flow.Key.policies.enforced_policies[0].kind).toBe("AdminNetworkPolicy");
      const kinds = await c.hints({ type: "FilterTypePolicyKind" });
      expect(kinds.hints.map((h: any) => h.value)).toContain("BaselineAdminNetworkPolicy");
      const stats = await c.stats({ group_by: "Policy", policy_match: { kind: "BaselineAdminNetworkPolicy", name: "banp-1" } });
      expect(stats.error).toBeNull();
      expect(stats.items.map((r: any) => `${r.policy.kind}/${r.policy.name}`)).toEqual(["BaselineAdminNetworkPolicy/banp-1"]);
      const s = await c.stream({ start_time_gte: old, filter: { policies: [{ namespace: "kube-system" }] } }, 1);
      expect(s.items.map((r: any) => r.flow.Key.dest_name)).toEqual(["dns-*"]);
    } finally {
      c.close();
    }
  });

  it("v3.32 (StringMatch): List and Statistics", async () => {
    const c = grpcJs("v3.32");
    try {
      const r = await c.list({ filter: { policies: [{ name: { value: "all", type: "Fuzzy" } }] } });
      expect(r.flows.map((f: any) => f.flow.Key.dest_name).sort()).toEqual(["db-*", "dns-*"]);
      const stats = await c.stats({ group_by: "Policy", policy_match: { tier: { value: "default" } } });
      expect(stats.items.map((x: any) => x.policy.name)).toEqual(["allow-dns"]);
    } finally {
      c.close();
    }
  });
});
