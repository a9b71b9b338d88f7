import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticAssets, resolveAssetPath } from "../../src/server/static-assets.js";
import { buildWeb } from "../../src/web/build.js";
import { startTestServer } from "../helpers/server.js";
import { ROOT } from "../helpers/spawn.js";

const run = promisify(execFile);

/** A raw HTTP/1.1 GET, so the path reaches the server exactly as written (fetch normalises it). */
function rawGet(port: number, p: string, method = "GET", headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: p, method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

let tmp: string;
let files: string[];
let server: http.Server;
let port: number;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-web-"));
  ({ files } = await buildWeb({ outDir: path.join(tmp, "web") }));
  fs.writeFileSync(path.join(tmp, "secret.txt"), "outside the web root");
  server = http.createServer(createStaticAssets({ root: path.join(tmp, "web") }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("web UI build (esbuild) and static assets", () => {
  it("src/web type-checks with tsconfig.web.json (DOM lib, Bundler resolution)", { timeout: 60_000 }, async () => {
    const tsc = path.join(ROOT, "node_modules/.bin/tsc");
    const out = await run(tsc, ["-p", "tsconfig.web.json"], { cwd: ROOT }).catch((e: { stdout?: string; stderr?: string }) => e);
    expect(`${out.stdout ?? ""}${out.stderr ?? ""}`).toBe("");
  });

  it("bundles index.html, a content-hashed JS and CSS bundle with source maps; the page needs no other origin", () => {
    expect(files).toContain("index.html");
    const js = files.find((f) => /^main-[A-Z0-9]{8,}\.js$/.test(f));
    const css = files.find((f) => /^main-[A-Z0-9]{8,}\.css$/.test(f));
    expect(js && css).toBeTruthy();
    expect(files).toContain(`${js}.map`);
    const html = fs.readFileSync(path.join(tmp, "web/index.html"), "utf8");
    expect(html).toContain(`src="./${js}"`);
    expect(html).toContain(`href="./${css}"`);
    expect(html).not.toMatch(/https?:\/\//);
    const bundle = fs.readFileSync(path.join(tmp, "web", js!), "utf8");
    // Booleans, not toContain: a failure must not print a 150 kB bundle.
    expect(bundle.includes("tributary-session-bin"), "the token interceptor is bundled").toBe(true);
    expect(/\bfrom\s*["'][^."']/.test(bundle), "no bare imports left: every dependency is inlined").toBe(false);
  });

  it("serves / and the assets with content types, CSP and cache headers; 304 on a matching ETag", async () => {
    const index = await rawGet(port, "/");
    expect(index.status).toBe(200);
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.headers["cache-control"]).toBe("no-cache");
    expect(index.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(index.headers["x-content-type-options"]).toBe("nosniff");
    const js = files.find((f) => f.endsWith(".js"))!;
    const css = files.find((f) => f.endsWith(".css"))!;
    const a = await rawGet(port, `/${js}`);
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(a.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect((await rawGet(port, `/${css}?v=1`)).headers["content-type"]).toBe("text/css; charset=utf-8");
    expect((await rawGet(port, `/${js}.map`)).headers["content-type"]).toBe("application/json; charset=utf-8");
    const again = await rawGet(port, "/", "GET", { "if-none-match": String(index.headers.etag) });
    expect(again.status).toBe(304);
    const head = await rawGet(port, "/", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
  });

  it.each(["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%5csecret.txt", "/.%2e/secret.txt", "/%00index.html", "/%E0%A4%A", "/.hidden", "/nope.js", "/assets/"])(
    "answers 404 for %s (no traversal, no dotfiles, no listings)",
    async (p) => {
      const r = await rawGet(port, p);
      expect(r.status).toBe(404);
      expect(r.body).not.toContain("outside the web root");
    },
  );

  it("resolves only paths inside the root", () => {
    expect(resolveAssetPath("/srv/web", "/")).toBe("/srv/web/index.html");
    expect(resolveAssetPath("/srv/web", "/a/b.js")).toBe("/srv/web/a/b.js");
    expect(resolveAssetPath("/srv/web", "/a/../../etc/passwd")).toBeNull();
    expect(resolveAssetPath("/srv/web", "/%2e%2e%2f%2e%2e%2fetc/passwd")).toBeNull();
  });

  it("refuses methods other than GET and HEAD", async () => {
    expect((await rawGet(port, "/", "DELETE")).status).toBe(404);
  });

  it("serves over HTTP/2 as well (the RPC port's h2c side)", async () => {
    const h2 = http2.createServer(createStaticAssets({ root: path.join(tmp, "web") }));
    await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
    const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    try {
      const { status, type, body } = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = client.request({ ":path": "/" });
        let status = 0;
        let type = "";
        let body = "";
        req.on("response", (h) => {
          status = Number(h[":status"]);
          type = String(h["content-type"]);
        });
        req.setEncoding("utf8").on("data", (c: string) => (body += c));
        req.on("end", () => resolve({ status, type, body }));
        req.on("error", reject);
      });
      expect(status).toBe(200);
      expect(type).toBe("text/html; charset=utf-8");
      expect(body).toContain("<title>Tributary");
    } finally {
      client.close();
      await new Promise((r) => h2.close(r));
    }
  });

  it("says how to build the UI when the bundle is missing", async () => {
    const empty = http.createServer(createStaticAssets({ root: path.join(tmp, "missing") }));
    await new Promise<void>((r) => empty.listen(0, "127.0.0.1", r));
    try {
      const r = await rawGet((empty.address() as AddressInfo).port, "/");
      expect(r.status).toBe(503);
      expect(r.body).toContain("npm run build");
    } finally {
      await new Promise((r) => empty.close(r));
    }
  });

  it("the real server keeps RPCs on the same port as the UI, and answers 404 for unknown paths", async () => {
    const ts = await startTestServer();
    try {
      const rpc = await fetch(`${ts.baseUrl}/goldmane.Flows/List`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(rpc.status).toBe(200);
      expect(await rpc.json()).toMatchObject({ meta: {} });
      expect((await fetch(`${ts.baseUrl}/no/such/file.js`)).status).toBe(404);
      expect((await fetch(`${ts.baseUrl}/goldmane.Nope/List`, { method: "POST", body: "{}" })).status).toBe(404);
    } finally {
      await ts.close();
    }
  });
});
