import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowCollector, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";
import { buildWeb } from "../../src/web/build.js";
import { metricValue, startTestServer, type TestServer } from "../helpers/server.js";
import { ROOT } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";
import { launchChromium } from "./browser.js";

// Functions passed to page.evaluate/waitForFunction run in the browser; the tests' tsconfig has no
// DOM lib (only tsconfig.web.json has), so declare the little they use, scoped to this module.
interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & { readonly length: number };
};
declare const sessionStorage: { getItem(key: string): string | null };

// W = 1 s and the manual clock at T0: the stream's newest complete bucket is [T0−2, T0−1), a flow
// at T0−1 arrives as a live batch after one rollover (clock + 1 s, tick), as in stream.test.ts.
const T0 = 1_700_000_010;
const BATCH_JOBS = 25; // more source names than one hint page (20): the list must page on scroll

const policy = (name: string, tier: string, action: number) => ({
  enforcedPolicies: [{ kind: 1, namespace: "shop", name, tier, action, policyIndex: 0n, ruleIndex: 2n }],
});

function fixtures(): FlowUpdate[] {
  const out = [
    wireUpdate(T0 - 30, { sourceName: "frontend", sourceNamespace: "shop", destName: "backend", destNamespace: "shop", policies: policy("allow-frontend", "default", 1) }, { sourceLabels: ["app=frontend", "team=web"], packetsIn: 10n, packetsOut: 20n, sourceIps: ["10.0.0.6", "10.0.0.5"], destIps: ["10.0.1.9"] }),
    wireUpdate(T0 - 20, { sourceName: "frontend", sourceNamespace: "shop", destName: "pub", destNamespace: "", destType: 4, destPort: 443n, action: 2, policies: policy("deny-egress", "security", 2) }, { packetsIn: 0n, packetsOut: 7n }),
    wireUpdate(T0 - 25, { sourceName: "cache", sourceNamespace: "shop", destName: "backend", destNamespace: "shop", proto: "udp", destPort: 53n }),
  ];
  for (let i = 0; i < BATCH_JOBS; i++) {
    out.push(wireUpdate(T0 - 15, { sourceName: `batch-${String(i).padStart(2, "0")}`, sourceNamespace: "jobs", destName: "backend", destNamespace: "shop" }));
  }
  return out;
}

async function ingest(baseUrl: string, updates: FlowUpdate[]): Promise<void> {
  async function* gen() {
    yield* updates;
  }
  let receipts = 0;
  for await (const _ of createClient(FlowCollector, createGrpcTransport({ baseUrl })).connect(gen())) receipts++;
  expect(receipts).toBe(updates.length);
}

const rowSources = (page: Page) => page.$$eval("[data-testid=flow-row]", (rows) => rows.map((r) => r.getAttribute("data-source")));

let ts: TestServer;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  fs.mkdirSync(path.join(ROOT, "test-artifacts"), { recursive: true });
  browser = await launchChromium();
  await buildWeb(); // into dist/web, where the server looks for it
  ts = await startTestServer({ AGGREGATION_WINDOW: "1s" }, T0);
  await ingest(ts.baseUrl, fixtures());
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(e.message));
}, 60_000);

afterAll(async () => {
  // The page as the last test left it (ui.png is taken mid-run, with the chart and details open).
  await page?.screenshot({ path: path.join(ROOT, "test-artifacts/ui-last.png"), fullPage: true }).catch(() => undefined);
  await browser?.close();
  await ts?.close();
});

describe("web UI in headless Chromium", () => {
  it("serves the page from the RPC port and shows the ingested flows live (Flows/Stream backfill)", async () => {
    const res = await page.goto(ts.baseUrl);
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-type"]).toBe("text/html; charset=utf-8");
    await page.waitForSelector("[data-testid=flow-row][data-source=frontend]");
    await page.waitForFunction((n) => document.querySelectorAll("[data-testid=flow-row]").length === n, 3 + BATCH_JOBS);
    expect(await page.textContent("[data-testid=status]")).toContain(`live · ${3 + BATCH_JOBS} flows`);
    // Goldmane's aliases: pub is shown as PUBLIC NETWORK, an empty namespace as Global.
    const pubRow = page.locator("[data-testid=flow-row][data-dest=pub]");
    await expect(pubRow.textContent()).resolves.toContain("PUBLIC NETWORK");
    await expect(pubRow.textContent()).resolves.toContain("Global");
  });

  it("autocompletes a filter field from FilterHints, loading the next page on scroll, and filters", async () => {
    await page.click("[data-testid=filter-sourceName]");
    const hints = page.locator("[data-testid=hints-sourceName]");
    await page.waitForSelector("[data-testid=hints-sourceName] li.hint");
    // First page of 20; scrolling to the end loads the rest (infinite paging).
    await hints.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.waitForFunction(() => document.querySelector("[data-testid=hints-sourceName]")?.getAttribute("data-done") === "true");
    expect(await hints.locator("li.hint").count()).toBe(2 + BATCH_JOBS);
    expect(await hints.getAttribute("data-pages")).toBe("2");

    // Typing narrows the hints server-side (a fuzzy match on the field).
    await page.fill("[data-testid=filter-sourceName]", "front");
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll("[data-testid=hints-sourceName] li.hint")].map((li) => li.textContent);
      return items.length === 1 && items[0] === "frontend";
    });
    await page.click("[data-testid=hints-sourceName] li.hint");
    await expect(page.textContent("[data-testid=chips]")).resolves.toContain("Source name = frontend");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("[data-testid=flow-row]")];
      return rows.length === 2 && rows.every((r) => r.getAttribute("data-source") === "frontend");
    });
  });

  it("receives a live batch on the stream when the aggregator rolls over", async () => {
    // The filtered stream is open once its backfill is shown; make sure it is registered.
    await expect.poll(() => metricValue(ts.registry, "goldmane_num_streams")).toBe(1);
    await ingest(ts.baseUrl, [
      wireUpdate(T0 - 1, { sourceName: "frontend", sourceNamespace: "shop", destName: "live-dest", destNamespace: "shop" }),
      wireUpdate(T0 - 1, { sourceName: "filtered-out", sourceNamespace: "shop", destName: "live-dest", destNamespace: "shop" }),
    ]);
    ts.clock.advance(1);
    ts.server.aggregator.tick();
    await page.waitForSelector("[data-testid=flow-row][data-dest=live-dest]");
    expect(await rowSources(page)).toEqual(["frontend", "frontend", "frontend"]);
  });

  it("opens flow details with labels and the policy trace", async () => {
    await page.click("[data-testid=flow-row][data-dest=backend]");
    const details = page.locator("[data-testid=details]");
    await details.waitFor({ state: "visible" });
    const text = await details.textContent();
    expect(text).toContain("app=frontend");
    expect(text).toContain("team=web");
    expect(text).toContain("allow-frontend");
    expect(await details.locator("[data-testid=trace-row]").count()).toBe(1);
    // Flow IPs (issue 13 item 6), sorted
    expect(await details.locator("[data-testid=source-ips] .label").allTextContents()).toEqual(["10.0.0.5", "10.0.0.6"]);
    expect(await details.locator("[data-testid=dest-ips] .label").allTextContents()).toEqual(["10.0.1.9"]);
  });

  it("draws the per-policy chart of allowed/denied packets from Statistics/List (time series)", async () => {
    await page.click("[data-testid=chart-toggle]");
    await page.waitForSelector("[data-testid=chart-svg]");
    const options = await page.$$eval("[data-testid=chart-policy] option", (os) => os.map((o) => o.textContent));
    expect(options).toEqual(expect.arrayContaining(["default|shop/allow-frontend (CalicoNetworkPolicy)", "security|shop/deny-egress (CalicoNetworkPolicy)"]));
    const values = await page.$$eval("[data-testid=chart-policy] option", (os) => os.map((o) => [o.getAttribute("value"), o.textContent]));
    const denyOption = values.find(([, text]) => text?.includes("deny-egress"))![0]!;
    await page.selectOption("[data-testid=chart-policy]", denyOption);
    await page.waitForFunction(() => document.querySelector("polyline[data-series=denied]")?.getAttribute("data-total") === "7");
    expect(await page.getAttribute("polyline[data-series=allowed]", "data-total")).toBe("0");
    await expect(page.textContent("[data-testid=legend-denied]")).resolves.toContain("denied: 7 packets");
    // Bytes: the same policy, ByteCount (wireUpdate's bytes_in 100 + bytes_out 200).
    await page.selectOption("[data-testid=chart-type]", "bytes");
    await page.waitForFunction(() => document.querySelector("[data-testid=legend-denied]")?.textContent?.includes("bytes"));
    await expect(page.textContent("[data-testid=legend-denied]")).resolves.toContain("denied: 300 bytes");
  });

  it("switches to Flows/List for a time range, with server-side sort and paging", async () => {
    await page.click("[data-testid=chips] .chip-remove");
    await page.selectOption("[data-testid=range]", "900");
    await page.selectOption("[data-testid=page-size]", "25");
    // 3 + 25 + 2 live = 30 flows: two pages of 25.
    await page.waitForFunction(() => document.querySelector("[data-testid=page-info]")?.textContent === "Page 1 of 2 · 30 flows");
    expect(await page.locator("[data-testid=flow-row]").count()).toBe(25);
    await page.click("th[data-sort='4']"); // SortBy.SourceName
    await page.waitForFunction(() => document.querySelector("[data-testid=flow-row]")?.getAttribute("data-source") === "batch-00");
    await page.click("#next");
    await page.waitForFunction(() => document.querySelector("[data-testid=page-info]")?.textContent?.startsWith("Page 2 of 2"));
    expect(await rowSources(page)).toEqual(["cache", "filtered-out", "frontend", "frontend", "frontend"]);
    await page.screenshot({ path: path.join(ROOT, "test-artifacts/ui.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it("sends the session token from the token field as tributary-session-bin", async () => {
    const seen: (string | undefined)[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/goldmane.Flows/")) seen.push(r.headers()["tributary-session-bin"]);
    });
    await page.fill("[data-testid=token]", "dG9rZW4tZm9yLXRlc3Q=");
    await page.press("[data-testid=token]", "Enter");
    await expect.poll(() => seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe("dG9rZW4tZm9yLXRlc3Q=");
    expect(await page.evaluate(() => sessionStorage.getItem("tributary.sessionToken"))).toBe("dG9rZW4tZm9yLXRlc3Q=");
    // Not base64: refused in the page, nothing stored.
    await page.fill("[data-testid=token]", "not a token!");
    await page.press("[data-testid=token]", "Enter");
    await expect(page.textContent("[data-testid=status]")).resolves.toContain("must be base64");
  });
});
