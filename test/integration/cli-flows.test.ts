import { createClient, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowCollector, Flows, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { runCli } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// W = 1 s, manual clock at T0: relative times (--since 22s) are read on the server's clock.
const T0 = 1_700_000_010;

const policy = (name: string, tier: string, action: number) => ({
  enforcedPolicies: [{ kind: 1, namespace: "shop", name, tier, action, policyIndex: 0n, ruleIndex: 1n }],
});

async function ingest(baseUrl: string, updates: FlowUpdate[]): Promise<void> {
  async function* gen() {
    yield* updates;
  }
  for await (const _ of createClient(FlowCollector, createGrpcTransport({ baseUrl })).connect(gen()));
}

/** Runs `tributary flows …` to completion. */
async function flows(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = runCli(["flows", ...args]);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** The one line a failing command prints (npm's own warnings aside). */
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("npm warn"));

let ts: TestServer;
let addr: string;

beforeAll(async () => {
  ts = await startTestServer({ AGGREGATION_WINDOW: "1s" }, T0);
  addr = ts.baseUrl;
  await ingest(addr, [
    wireUpdate(T0 - 30, { sourceName: "frontend", sourceNamespace: "shop", destName: "backend", destNamespace: "shop", policies: policy("allow-frontend", "default", 1) }, { packetsIn: 10n, packetsOut: 20n }),
    wireUpdate(T0 - 20, { sourceName: "frontend", sourceNamespace: "shop", destName: "pub", destNamespace: "", destType: 4, destPort: 443n, action: 2, policies: policy("deny-egress", "security", 2) }, { packetsIn: 0n, packetsOut: 7n }),
    wireUpdate(T0 - 25, { sourceName: "cache", sourceNamespace: "shop", destName: "backend", destNamespace: "shop", proto: "udp", destPort: 53n, policies: policy("allow-frontend", "default", 1) }),
  ]);
});

afterAll(async () => {
  await ts?.close();
});

describe("tributary flows list", () => {
  it("prints a table, filters, sorts, pages and reads time ranges on the server's clock", async () => {
    const [table, denied, paged, recent] = await Promise.all([
      flows("list", "--addr", addr),
      flows("list", "--addr", addr, "--source-name", "frontend", "--action", "deny", "-o", "json"),
      flows("list", "--addr", addr, "--sort", "source-name", "--page-size", "2", "--page", "1", "-o", "json"),
      flows("list", "--addr", addr, "--since", "22s", "--until", "0", "--dest-namespace", "", "--dest-namespace", "shop", "-o", "json"),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^START\s+END\s+SRC_NS\s+SRC\s+DST_NS\s+DST\s+PORT\s+PROTO\s+ACTION/);
    expect(lines).toHaveLength(5);
    expect(lines.find((l) => l.includes(" pub "))).toMatch(/frontend\s+-\s+pub\s+443\s+tcp\s+Deny\s+Src\s+0\s+7\s+100\s+200\s+security\|shop\/deny-egress:Deny$/);
    expect(lines.at(-1)).toBe("page 1 of 1, 3 flows, resolution 1s");

    expect(denied.code, denied.stderr).toBe(0);
    const d = JSON.parse(denied.stdout) as { meta: { totalResults: string }; flows: { flow: { Key: { destName: string; action: string } } }[] };
    expect(d.meta.totalResults).toBe("1");
    expect(d.flows.map((f) => f.flow.Key)).toMatchObject([{ destName: "pub", action: "Deny" }]);

    const p = JSON.parse(paged.stdout) as { meta: { totalPages: string; totalResults: string }; flows: { flow: { Key: { sourceName: string } } }[] };
    expect(p.meta).toEqual({ totalPages: "2", totalResults: "3" });
    expect(p.flows.map((f) => f.flow.Key.sourceName)).toEqual(["frontend"]);

    // --since 22s = start_time_gte −22 → only the flow at T0−20 (the ones at T0−25 and T0−30 are older).
    const r = JSON.parse(recent.stdout) as { flows: { flow: { startTime: string } }[] };
    expect(r.flows.map((f) => Number(f.flow.startTime))).toEqual([T0 - 20]);
  });
});

describe("tributary flows hints", () => {
  it("lists hint values as a table and as JSON, with paging and absolute times", async () => {
    const [names, namespaces, page] = await Promise.all([
      flows("hints", "--addr", addr, "--type", "source-name", "-o", "json"),
      flows("hints", "--addr", addr, "--type", "dest-namespace", "--since", String(T0 - 60)),
      flows("hints", "--addr", addr, "--type", "policy-name", "--page-size", "1", "--page", "1", "-o", "json"),
    ]);
    expect(names.code, names.stderr).toBe(0);
    expect(JSON.parse(names.stdout)).toEqual({ meta: { totalPages: "1", totalResults: "2" }, hints: [{ value: "cache" }, { value: "frontend" }] });
    expect(namespaces.code, namespaces.stderr).toBe(0);
    expect(namespaces.stdout).toBe("VALUE\n-\nshop\n");
    expect(JSON.parse(page.stdout)).toEqual({ meta: { totalPages: "2", totalResults: "2" }, hints: [{ value: "deny-egress" }] });
  });
});

describe("tributary flows stats", () => {
  it("prints per-policy totals and a time series", async () => {
    const [totals, series, rule] = await Promise.all([
      flows("stats", "--addr", addr, "-o", "json"),
      flows("stats", "--addr", addr, "--time-series", "--policy-name", "deny-egress"),
      flows("stats", "--addr", addr, "--group-by", "rule", "--stat-type", "bytes", "--policy-name", "allow-frontend", "-o", "json"),
    ]);
    expect(totals.code, totals.stderr).toBe(0);
    const t = JSON.parse(totals.stdout) as { policy: { name: string }; allowedIn: string[]; allowedOut: string[]; deniedOut: string[] }[];
    expect(t.map((r) => r.policy.name).sort()).toEqual(["allow-frontend", "deny-egress"]);
    const deny = t.find((r) => r.policy.name === "deny-egress")!;
    expect(deny.deniedOut.map(Number).reduce((a, b) => a + b, 0)).toBe(7);

    expect(series.code, series.stderr).toBe(0);
    const lines = series.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+KIND\s+TIER\s+NAMESPACE\s+POLICY\s+RULE\s+ACTION\s+DIRECTION\s+ALLOWED_IN/);
    expect(lines.slice(1).every((l) => l.includes("deny-egress"))).toBe(true);
    expect(lines.some((l) => l.startsWith(new Date((T0 - 20) * 1000).toISOString().replace("T", " ").slice(0, 19)))).toBe(true);

    expect(rule.code, rule.stderr).toBe(0);
    const rules = JSON.parse(rule.stdout) as { groupBy: string; policy: { name: string; ruleIndex: string } }[];
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.every((r) => r.groupBy === "PolicyRule" && r.policy.name === "allow-frontend" && r.policy.ruleIndex === "1")).toBe(true);
  });
});

describe("tributary flows stream", () => {
  it("backfills with --since, then prints a live batch as NDJSON and stops after --max-results", async () => {
    const backfill = await flows("stream", "--addr", addr, "--since", "1m", "--max-results", "3", "-o", "json");
    expect(backfill.code, backfill.stderr).toBe(0);
    const rows = backfill.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { flow: { Key: { sourceName: string } } });
    expect(rows.map((r) => r.flow.Key.sourceName).sort()).toEqual(["cache", "frontend", "frontend"]);

    // No backfill: the first result can only be the live batch of the next rollover.
    const p = runCli(["flows", "stream", "--addr", addr, "--source-name", "live", "--max-results", "1"]);
    await expect.poll(() => metricValue(ts.registry, "goldmane_num_streams"), { timeout: 20_000 }).toBe(1);
    await ingest(addr, [wireUpdate(T0 - 1, { sourceName: "live", destName: "backend" }), wireUpdate(T0 - 1, { sourceName: "other" })]);
    ts.clock.advance(1);
    ts.server.aggregator.tick();
    const { code } = await p.exited;
    expect(code, p.stderr()).toBe(0);
    const lines = p.stdout().trimEnd().split("\n");
    expect(lines[0]).toMatch(/^START\s+END\s+SRC_NS/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/\blive\s+default\s+backend\b/);
  });
});

describe("errors: one line on stderr and a non-zero exit", () => {
  it("rejects bad flags and values with exit 2, reports an unreachable server and a server error with exit 1", async () => {
    const [bogus, badAction, badSince, unreachable, serverError, tlsOnHttp] = await Promise.all([
      flows("list", "--bogus"),
      flows("list", "--action", "maybe"),
      flows("list", "--since", "15x"),
      flows("list", "--addr", "127.0.0.1:1"),
      flows("list", "--addr", addr, "--sort", "dest-type"),
      flows("list", "--addr", addr, "--insecure-skip-verify"),
    ]);
    const one = (r: { stderr: string }) => {
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      return lines[0];
    };
    expect(bogus.code).toBe(2);
    expect(one(bogus)).toBe("tributary flows list: unknown option '--bogus' (see --help)");
    expect(badAction.code).toBe(2);
    expect(one(badAction)).toContain('unknown action "maybe"; one of: allow, deny, pass');
    expect(badSince.code).toBe(2);
    expect(one(badSince)).toContain("expected a duration back from now (15m, 1h30m, 90s) or absolute Unix seconds");
    expect(unreachable.code).toBe(1);
    expect(one(unreachable)).toMatch(/^tributary flows list: cannot reach http:\/\/127\.0\.0\.1:1: \[unavailable\]/);
    expect(serverError.code).toBe(1);
    expect(one(serverError)).toBe("tributary flows list: [invalid_argument] sort_by: unsupported sort order: DestType");
    expect(tlsOnHttp.code).toBe(2);
    expect(one(tlsOnHttp)).toContain("--insecure-skip-verify need an https:// --addr");
    for (const r of [bogus, badAction, badSince, unreachable, serverError, tlsOnHttp]) expect(r.stdout).toBe("");
  });
});

describe("TLS and session tokens", () => {
  let pki: TestPki;
  let tls: TestServer;
  beforeAll(async () => {
    pki = makeTestPki();
    tls = await startTestServer({ SERVER_CERT_PATH: pki.serverCert, SERVER_KEY_PATH: pki.serverKey, CA_CERT_PATH: pki.caCert }, T0);
  });
  afterAll(async () => {
    await tls?.close();
    pki?.cleanup();
  });

  it("talks to an mTLS server with --ca/--cert/--key, and says why it cannot without them", async () => {
    const url = `https://127.0.0.1:${tls.port}`;
    const [ok, insecure, noCa, noCert] = await Promise.all([
      flows("list", "--addr", url, "--ca", pki.caCert, "--cert", pki.clientCert, "--key", pki.clientKey, "-o", "json"),
      flows("list", "--addr", url, "--insecure-skip-verify", "--cert", pki.clientCert, "--key", pki.clientKey, "-o", "json"),
      flows("list", "--addr", url, "--cert", pki.clientCert, "--key", pki.clientKey),
      flows("list", "--addr", url, "--ca", pki.caCert),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ meta: { totalPages: "0", totalResults: "0" }, flows: [] });
    expect(insecure.code, insecure.stderr).toBe(0);
    expect(noCa.code).toBe(1);
    expect(errorLines(noCa.stderr)).toEqual([expect.stringMatching(/^tributary flows list: TLS with https:\/\/127\.0\.0\.1:\d+ failed: self-signed certificate in certificate chain \(trust the server's CA with --ca/)]);
    // No client certificate: the mTLS server ends the handshake (or the stream) without an answer.
    expect(noCert.code).toBe(1);
    expect(errorLines(noCert.stderr), noCert.stderr).toHaveLength(1);
  });

  it("sends --token as tributary-session-bin metadata", async () => {
    const seen: (string | null)[] = [];
    const server = http2.createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(Flows, {
            list: (_req: unknown, ctx: HandlerContext) => {
              seen.push(ctx.requestHeader.get("tributary-session-bin"));
              return {};
            },
          }),
      }),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const [good, bad] = await Promise.all([
        flows("list", "--addr", `127.0.0.1:${port}`, "--token", "c2Vzc2lvbi10b2tlbg=="),
        flows("list", "--addr", `127.0.0.1:${port}`, "--token", "not base64!"),
      ]);
      expect(good.code, good.stderr).toBe(0);
      expect(seen).toEqual(["c2Vzc2lvbi10b2tlbg=="]);
      expect(bad.code).toBe(2);
      expect(errorLines(bad.stderr)).toEqual(["tributary flows list: --token: must be base64 (standard or URL-safe)"]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
