/// <reference types="node" />
import * as esbuild from "esbuild";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Options of {@link buildWeb}. */
export interface BuildWebOptions {
  /** Output directory; defaults to `dist/web` of the package. */
  outDir?: string;
  /** Minify the bundle (default true). */
  minify?: boolean;
}

/**
 * Bundles the UI with esbuild into `outDir`: `main-HASH.js`, `main-HASH.css` (content-hashed, so
 * the server can cache them forever) and `index.html` pointing at them. The directory is replaced
 * as a whole, so stale bundles never linger. Everything the page needs is in the bundle: no CDN.
 */
export async function buildWeb(options: BuildWebOptions = {}): Promise<{ outDir: string; files: string[] }> {
  const outDir = options.outDir ?? path.resolve(HERE, "../../dist/web");
  const staging = `${outDir}.tmp-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: [path.join(HERE, "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    outdir: staging,
    entryNames: "[name]-[hash]",
    minify: options.minify ?? true,
    sourcemap: "linked",
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
  const js = outputs.find((f) => /^main-.*\.js$/.test(f));
  const css = outputs.find((f) => /^main-.*\.css$/.test(f));
  if (!js || !css) throw new Error(`esbuild did not emit main-*.js and main-*.css (got ${outputs.join(", ")})`);
  const template = await fs.readFile(path.join(HERE, "index.html"), "utf8");
  await fs.writeFile(path.join(staging, "index.html"), template.replace("%JS%", `./${js}`).replace("%CSS%", `./${css}`));
  // Swap in one step: a server reading dist/web meanwhile sees the old or the new build.
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.rename(staging, outDir);
  return { outDir, files: (await fs.readdir(outDir)).sort() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  buildWeb().then(
    ({ outDir, files }) => process.stdout.write(`web UI built into ${path.relative(process.cwd(), outDir) || "."}: ${files.join(", ")}\n`),
    (err: unknown) => {
      process.stderr.write(`web UI build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
