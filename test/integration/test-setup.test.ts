import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/spawn.js";

// The README's test command and its set-up script (issue: the test command passes on a fresh
// machine). The script itself runs for real here: once where everything is installed (it must be
// quick and change nothing), once where it cannot install (it must stop with one line).

const SETUP = path.join(ROOT, "test/tools/setup.sh");

/** The command of the README's "Two commands" block whose comment says it runs the tests. */
function readmeTestCommand(): string {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Two commands"));
  const block = section.slice(section.indexOf("```sh") + 5, section.indexOf("```", section.indexOf("```sh") + 5));
  const line = block.split("\n").find((l) => /test/.test(l.split("#")[1] ?? ""));
  if (!line) throw new Error("README has no test command in its Two commands block");
  return line.split("#")[0]!.trim();
}

describe("test command", () => {
  it("is the command .ci/run runs, and it runs the set-up before the suite", () => {
    const cmd = readmeTestCommand();
    expect(cmd).toBe("npm ci && npm run test:all");
    const ciRun = fs.readFileSync(path.join(ROOT, ".ci/run"), "utf8");
    const executed = ciRun.split("\n").filter((l) => !l.trim().startsWith("#"));
    expect(executed.some((l) => l.trim() === cmd)).toBe(true);
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
      .scripts;
    expect(scripts["test:all"]).toBe("bash test/tools/setup.sh && vitest run");
    // `npm test -- <file>` must stay a plain vitest run that takes a file argument.
    expect(scripts["test"]).toBe("vitest run");
  });

  it("set-up finds everything installed and returns quickly without apt", () => {
    const r = spawnSync("bash", [SETUP], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).not.toMatch(/installing/);
    expect(r.status).toBe(0);
  });

  it("set-up stops at once with one line naming what to install when it cannot install", () => {
    // A missing browser, and a user who cannot run apt-get: as root we become `nobody`.
    const env = { ...process.env, CHROMIUM_PATH: "/nonexistent/chromium" };
    const asRoot = process.getuid?.() === 0;
    const r = asRoot
      ? spawnSync("runuser", ["-u", "nobody", "--", "bash", SETUP], { cwd: "/", env, encoding: "utf8", timeout: 30_000 })
      : spawnSync("bash", [SETUP], { cwd: ROOT, env, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^setup: the tests need chromium: install them \(Debian: sudo apt-get install -y --no-install-recommends chromium\)/);
  });
});
