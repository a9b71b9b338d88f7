import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A `tributary` CLI process started from source (node + tsx), with its output captured. */
export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first JSON log line that satisfies `pred`. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `tributary <args>` as a child process, as `npm run tributary -- <args>` would; `nodeArgs`
 * go to node before tsx (e.g. an `--import` of module hooks).
 */
export function runCli(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): CliProcess {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", path.join(ROOT, "src/main.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  const seen: Record<string, unknown>[] = [];
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const before = out.length;
    out += chunk;
    const complete = out.slice(0, out.lastIndexOf("\n") + 1);
    for (const line of complete.slice(out.slice(0, before).lastIndexOf("\n") + 1).split("\n")) {
      if (!line.trim()) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        seen.push(parsed);
        for (const w of waiters.splice(0)) {
          if (w.pred(parsed)) w.resolve(parsed);
          else waiters.push(w);
        }
      } catch {
        /* not a JSON line */
      }
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog(pred, timeoutMs = 20_000) {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for log line; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        void exited.then(() => {
          clearTimeout(t);
          reject(new Error(`process exited before the log line; stdout:\n${out}\nstderr:\n${err}`));
        });
      });
    },
  };
}
