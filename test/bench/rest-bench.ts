/**
 * RSS of `tributary serve` at rest (issue 15 item 1): the production build (`npm run build`, as
 * `npm start` runs it) started with default settings and no flows, read from /proc after it has
 * served for a few seconds, split into anonymous memory (heaps, stacks) and file-backed pages
 * (the node binary and libraries, mapped code), as /proc/<pid>/smaps_rollup reports them.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BenchRow } from "./report.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");

function kib(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

export async function benchRest(settleMs = 5000): Promise<BenchRow[]> {
  execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
  const child = spawn(process.execPath, [path.join(ROOT, "dist/src/main.js"), "serve"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HEALTH_PORT: "0", HOST: "127.0.0.1", HEALTH_HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const t = setTimeout(() => reject(new Error("serve did not start in 60 s")), 60_000);
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("serving gRPC, gRPC-web and Connect")) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, settleMs));
    const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
    const rollup = fs.readFileSync(`/proc/${child.pid}/smaps_rollup`, "utf8");
    const rss = kib(status, "VmRSS") / 1024;
    const anon = kib(rollup, "Anonymous") / 1024;
    return [
      {
        name: "rss/serve at rest (defaults, no flows)",
        value: rss,
        unit: "MiB",
        target: `≤ 80 MB (76.3 MiB): ${rss * 2 ** 20 <= 80e6 ? "met" : "NOT met"}`,
        note: `node dist/src/main.js serve, ${settleMs / 1000} s after it served: ${anon.toFixed(1)} MiB anonymous (V8 heaps, stacks, malloc), ${(rss - anon).toFixed(1)} MiB file-backed (node binary, libraries, code); Kubernetes client, NATS, PostgreSQL, offload and emitter modules not loaded (test: serve-at-rest.test.ts)`,
      },
    ];
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}
