import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** What the handler reads of a request (both `node:http` and `node:http2` compat requests). */
interface Req {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
}
/** What the handler writes (both `node:http` and `node:http2` compat responses). */
interface Res {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(): unknown;
  end(body: Buffer | string): unknown;
}

/** A request handler for paths no RPC route matched (connectNodeAdapter's `fallback`). */
export type StaticAssetsHandler = (req: Req, res: Res) => void;

/** Options of {@link createStaticAssets}. */
export interface StaticAssetsOptions {
  /**
   * Directory holding the built UI (`index.html` and hashed assets). Defaults to `dist/web` of the
   * package, found from this module's location both under tsx (`src/server/`) and compiled
   * (`dist/src/server/`).
   */
  root?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** The page is same-origin only: scripts, styles and RPCs come from this port (no CDN). */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** esbuild names bundles `name-HASH.ext` (src/web/build.ts), so their content never changes. */
const HASHED = /-[A-Z0-9]{8,}\.(js|css|map)$/;

const NOT_BUILT = [
  "Tributary web UI is not built.",
  "",
  "Build it with `npm run build` (TypeScript and the UI bundle), or only the UI with",
  "`npx tsx src/web/build.ts`, which writes dist/web/. The RPC API on this port works without it.",
  "",
].join("\n");

/** `dist/web` of this package, from this module's location (see {@link StaticAssetsOptions.root}). */
export function defaultWebRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const compiled = path.resolve(here, "../../web"); // dist/src/server → dist/web
  if (path.basename(path.resolve(here, "../..")) === "dist") return compiled;
  return path.resolve(here, "../../dist/web"); // src/server → dist/web
}

/**
 * Maps a URL path to a file under `root`, or null when it escapes the root or is malformed.
 * Decoding happens once, before the checks, so `%2e%2e/` and `..%2f` are caught like `../`.
 */
export function resolveAssetPath(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const segments = decoded.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === ".." || s === "." || s.startsWith("."))) return null;
  const rel = segments.length === 0 ? "index.html" : segments.join("/");
  const full = path.resolve(root, rel);
  const base = path.resolve(root);
  return full.startsWith(base + path.sep) ? full : null;
}

function send(res: Res, status: number, headers: Record<string, string | number>, body?: Buffer | string, head = false): void {
  res.writeHead(status, headers);
  if (head || body === undefined) res.end();
  else res.end(body);
}

/**
 * Serves the built web UI on the RPC port (GET and HEAD only): `/` is `index.html` (revalidated on
 * every load), hashed bundles are cached for a year, anything else under the root is served with
 * its content type and an ETag. No directory listings; paths escaping the root, dotfiles and
 * unknown files are 404. When the bundle is missing, `/` answers 503 with how to build it.
 */
export function createStaticAssets(options: StaticAssetsOptions = {}): StaticAssetsHandler {
  const root = options.root ?? defaultWebRoot();
  return (req, res) => {
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      send(res, 404, { "content-length": 0 });
      return;
    }
    const head = method === "HEAD";
    const urlPath = (req.url ?? "/").split("?")[0]!.split("#")[0]!;
    const file = resolveAssetPath(root, urlPath);
    const notFound = () => send(res, 404, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" }, "not found\n", head);
    if (!file) {
      notFound();
      return;
    }
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        if (path.basename(file) === "index.html" && path.dirname(file) === path.resolve(root)) {
          send(res, 503, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }, NOT_BUILT, head);
        } else {
          notFound();
        }
        return;
      }
      const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
      const ext = path.extname(file).toLowerCase();
      const headers: Record<string, string | number> = {
        "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
        "cache-control": HASHED.test(file) ? "public, max-age=31536000, immutable" : "no-cache",
        etag,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      };
      if (ext === ".html") {
        headers["content-security-policy"] = CSP;
        headers["x-frame-options"] = "DENY";
      }
      if (req.headers["if-none-match"] === etag) {
        send(res, 304, headers);
        return;
      }
      fs.readFile(file, (readErr, body) => {
        if (readErr) {
          notFound();
          return;
        }
        send(res, 200, { ...headers, "content-length": body.length }, body, head);
      });
    });
  };
}
