/**
 * The container image, as far as it can be checked without a Docker engine (none runs here, and
 * no base image can be pulled): the Dockerfile's structure and rules (issue 7 item 1), a lint by
 * dockerfile-utils when npm can fetch it, the build context left by .dockerignore, and a replay
 * of the build stage in a temporary directory whose runtime file set must start and serve.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { toBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import { LogBatchWriter } from "../../src/cluster/log-codec.js";
import { FlowUpdateSchema } from "../../src/gen/goldmane/api_pb.js";
import { freePort, startNatsServer } from "../helpers/nats-server.js";
import { wireUpdate } from "../helpers/wire-flows.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dockerfileText = fs.readFileSync(path.join(root, "Dockerfile"), "utf8");
const dockerignoreText = fs.readFileSync(path.join(root, ".dockerignore"), "utf8");

// ---------------------------------------------------------------------------------------------
// A small Dockerfile reader: enough of the grammar for our own file (comments, parser
// directives, line continuations, flags, exec-form JSON), not a general parser.

const KNOWN = new Set([
  "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
  "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
]);

interface Instruction {
  readonly keyword: string;
  /** Leading `--name=value` flags. */
  readonly flags: Record<string, string>;
  /** The rest of the line after the flags. */
  readonly rest: string;
  readonly line: number;
}

interface Stage {
  readonly name: string;
  readonly image: string;
  readonly instructions: Instruction[];
}

interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Record<string, string>;
  readonly stages: Stage[];
  /** Instructions that are not Dockerfile instructions, or that precede the first FROM. */
  readonly errors: string[];
}

function parseDockerfile(text: string): Dockerfile {
  const logical: { text: string; line: number }[] = [];
  let buf = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (buf === "" && /^\s*(#.*)?$/.test(line)) return; // comment, parser directive or blank
    if (buf !== "" && /^\s*#/.test(line)) return; // comment inside a continuation
    if (buf === "") start = i + 1;
    if (/\\\s*$/.test(line)) {
      buf += line.replace(/\\\s*$/, " ");
      return;
    }
    logical.push({ text: (buf + line).trim(), line: start });
    buf = "";
  });
  if (buf !== "") logical.push({ text: buf.trim(), line: start });

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const errors: string[] = [];
  for (const { text: l, line } of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    let rest = m[2]!;
    const flags: Record<string, string> = {};
    for (let f = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)) {
      flags[f[1]!] = f[2] ?? "";
      rest = rest.slice(f[0].length);
    }
    if (!KNOWN.has(keyword)) {
      errors.push(`line ${line}: unknown instruction ${m[1]}`);
      continue;
    }
    const ins: Instruction = { keyword, flags, rest: rest.trim(), line };
    if (keyword === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.rest);
      if (!f) {
        errors.push(`line ${line}: FROM needs an image`);
        continue;
      }
      stages.push({ image: f[1]!, name: f[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === "ARG") {
        const [k, v = ""] = ins.rest.split("=", 2);
        globalArgs[k!] = v;
      } else {
        errors.push(`line ${line}: ${keyword} before the first FROM`);
      }
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { globalArgs, stages, errors };
}

/** `${NAME}` / `$NAME` substitution from ARG defaults, as FROM lines get it. */
function expandArgs(s: string, args: Record<string, string>): string {
  return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? "");
}

/** Exec form (`["a", "b"]`) as an array, or null for shell form or bad JSON. */
function execForm(rest: string): string[] | null {
  if (!rest.startsWith("[")) return null;
  try {
    const v: unknown = JSON.parse(rest);
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** COPY arguments: sources and destination (shell-style words; no JSON form in our file). */
function copyArgs(ins: Instruction): { sources: string[]; dest: string } {
  const words = ins.rest.split(/\s+/).filter(Boolean);
  return { sources: words.slice(0, -1), dest: words[words.length - 1] ?? "" };
}

const RUNTIME_FILES = ["package.json", "node_modules", "dist"];

/**
 * The operator's commands (issue 13 item 4): the one CommonJS entry installed executable at the
 * paths the tigera operator's Goldmane Deployments exec (`/health`, `/usr/bin/calico`).
 */
const OPERATOR_ENTRY = "/app/dist/src/entry/calico.cjs";
const OPERATOR_PATHS = ["/health", "/usr/bin/calico"];

/**
 * Every rule the image must keep (issue 7 item 1), as a list of problems; empty when all hold.
 * Structural mistakes (unknown instruction, COPY with one argument, shell-form ENTRYPOINT) are
 * reported too, since dockerfile-utils may not be available.
 */
function checkDockerfile(text: string): string[] {
  const df = parseDockerfile(text);
  const problems = [...df.errors];
  if (df.stages.length < 2) return [...problems, `multi-stage build expected, found ${df.stages.length} stage(s)`];
  const names = df.stages.map((s) => s.name);
  const build = df.stages[0]!;
  const runtime = df.stages[df.stages.length - 1]!;

  for (const [i, stage] of df.stages.entries()) {
    for (const ins of stage.instructions) {
      if (ins.keyword === "ADD") problems.push(`line ${ins.line}: use COPY, not ADD`);
      if (ins.keyword === "COPY") {
        const { sources } = copyArgs(ins);
        if (sources.length < 1) problems.push(`line ${ins.line}: COPY needs a source and a destination`);
        const from = ins.flags.from;
        if (from !== undefined && !names.slice(0, i).includes(from)) {
          problems.push(`line ${ins.line}: COPY --from=${from} names no earlier stage`);
        }
      }
      if ((ins.keyword === "ENTRYPOINT" || ins.keyword === "CMD") && !execForm(ins.rest)) {
        problems.push(`line ${ins.line}: ${ins.keyword} must use the exec form (JSON array), so signals reach node`);
      }
    }
  }

  // Build stage: npm ci, then npm run build, then npm prune --omit=dev.
  const runs = build.instructions.filter((i) => i.keyword === "RUN").map((i) => i.rest).join(" && ");
  const steps: [string, RegExp][] = [
    ["npm ci", /\bnpm ci\b/],
    ["npm run build", /\bnpm run build\b/],
    ["npm prune --omit=dev", /\bnpm prune\b[^&;]*--omit=dev/],
  ];
  let at = 0;
  for (const [label, re] of steps) {
    const m = re.exec(runs.slice(at));
    if (!m) {
      problems.push(`build stage: "${label}" missing or out of order`);
      break;
    }
    at += m.index + m[0].length;
  }

  // Runtime stage: slim Node 20, only dist + node_modules + package.json, non-root numeric user.
  const image = expandArgs(runtime.image, df.globalArgs);
  if (!/^(docker\.io\/(library\/)?)?node:20(\.\d+)*-[a-z]+-slim(@sha256:[a-f0-9]{64})?$/.test(image)) {
    problems.push(`runtime stage: base image ${image} is not a slim Node 20 image`);
  }
  const copies = runtime.instructions.filter((i) => i.keyword === "COPY");
  const copied = new Set<string>();
  const operatorPaths = new Set<string>();
  for (const c of copies) {
    if (c.flags.from !== build.name) {
      problems.push(`runtime stage line ${c.line}: COPY must come from the ${build.name} stage`);
      continue;
    }
    const { sources, dest } = copyArgs(c);
    if (OPERATOR_PATHS.includes(dest)) {
      if (sources.length !== 1 || sources[0] !== OPERATOR_ENTRY) problems.push(`runtime stage line ${c.line}: ${dest} must be ${OPERATOR_ENTRY}`);
      if (c.flags.chmod !== "0755" && c.flags.chmod !== "755") problems.push(`runtime stage line ${c.line}: ${dest} must be executable (--chmod=0755)`);
      operatorPaths.add(dest);
      continue;
    }
    for (const s of sources) {
      const rel = path.posix.relative("/app", s);
      if (!RUNTIME_FILES.includes(rel)) problems.push(`runtime stage line ${c.line}: copies ${s}, not one of ${RUNTIME_FILES.join(", ")}`);
      copied.add(rel);
    }
  }
  for (const f of RUNTIME_FILES) if (!copied.has(f)) problems.push(`runtime stage: ${f} is not copied`);
  for (const p of OPERATOR_PATHS) if (!operatorPaths.has(p)) problems.push(`runtime stage: ${p} (the operator's probe/command entry) is not installed`);
  if (runtime.instructions.some((i) => i.keyword === "RUN")) problems.push("runtime stage: RUN adds layers; build in the build stage");
  const users = runtime.instructions.filter((i) => i.keyword === "USER");
  const user = users[users.length - 1]?.rest ?? "";
  const u = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!u || u[1] === "0" || u[2] === "0") problems.push(`runtime stage: USER must be a numeric non-root uid[:gid], got "${user}"`);
  const exposed = runtime.instructions
    .filter((i) => i.keyword === "EXPOSE")
    .flatMap((i) => i.rest.split(/\s+/))
    .map((p) => p.replace(/\/tcp$/, ""));
  for (const p of ["7443", "8080"]) if (!exposed.includes(p)) problems.push(`runtime stage: EXPOSE ${p} missing`);
  const last = (k: string) => runtime.instructions.filter((i) => i.keyword === k).pop();
  const entrypoint = last("ENTRYPOINT");
  if (JSON.stringify(execForm(entrypoint?.rest ?? "")) !== JSON.stringify(["node", "dist/src/main.js"])) {
    problems.push(`runtime stage: ENTRYPOINT must be ["node", "dist/src/main.js"], got ${entrypoint?.rest ?? "none"}`);
  }
  const cmd = last("CMD");
  if (JSON.stringify(execForm(cmd?.rest ?? "")) !== JSON.stringify(["serve"])) {
    problems.push(`runtime stage: CMD must be ["serve"], got ${cmd?.rest ?? "none"}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, with Docker's rules: patterns in order, the last match wins, `!` re-includes,
// a pattern that matches a directory matches everything below it.

function ignoreMatcher(text: string): (rel: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pat = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, "");
      let re = "";
      for (let i = 0; i < pat.length; i++) {
        const c = pat[i]!;
        if (c === "*" && pat[i + 1] === "*") {
          re += pat[i + 2] === "/" ? "(?:.*/)?" : ".*";
          i += pat[i + 2] === "/" ? 2 : 1;
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (rel) => {
    const parts = rel.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

const ignored = ignoreMatcher(dockerignoreText);

/** Copies a path of the build context, leaving out what .dockerignore excludes. */
function copyFromContext(rel: string, dest: string): void {
  const src = path.join(root, rel);
  fs.cpSync(src, dest, {
    recursive: true,
    filter: (p) => {
      const r = path.relative(root, p).split(path.sep).join("/");
      return r === "" || !ignored(r);
    },
  });
}

// ---------------------------------------------------------------------------------------------

describe("Dockerfile", () => {
  it("keeps the image rules: multi-stage npm ci/build/prune, slim Node 20, runtime files only, non-root, exec-form entrypoint", () => {
    expect(checkDockerfile(dockerfileText)).toEqual([]);
  });

  it("catches a broken Dockerfile (the checks can fail)", () => {
    const broken = (from: string, to: string) => {
      expect(dockerfileText).toContain(from);
      return checkDockerfile(dockerfileText.replace(from, to));
    };
    expect(broken("USER 65532:65532", "USER root").join()).toMatch(/USER must be a numeric non-root/);
    expect(broken("USER 65532:65532", "USER 0:0").join()).toMatch(/USER must be a numeric non-root/);
    expect(broken(" && npm prune --omit=dev --no-audit --no-fund", "").join()).toMatch(/npm prune.*missing/);
    expect(broken("COPY --from=build /app/dist ./dist", "COPY . .").join()).toMatch(/COPY must come from the build stage/);
    expect(broken("COPY --from=build /app/dist ./dist", "COPY --from=build /app/src ./src").join()).toMatch(/copies \/app\/src.*dist is not copied/);
    expect(broken('CMD ["serve"]', "CMD serve").join()).toMatch(/CMD must use the exec form/);
    expect(broken("EXPOSE 7443", "EXPOSE").join()).toMatch(/EXPOSE 7443 missing/);
    expect(broken("ARG NODE_IMAGE=node:20-bookworm-slim", "ARG NODE_IMAGE=node:22").join()).toMatch(/not a slim Node 20 image/);
    expect(broken("WORKDIR /app\n", "WORKDIR /app\nCOPYY x y\n").join()).toMatch(/unknown instruction COPYY/);
    expect(broken("COPY tsconfig.json tsconfig.build.json ./", "COPY tsconfig.json").join()).toMatch(/COPY needs a source and a destination/);
    expect(broken("COPY --from=build --chmod=0755 /app/dist/src/entry/calico.cjs /health\n", "").join()).toMatch(/\/health .* is not installed/);
    expect(broken("--chmod=0755 /app/dist/src/entry/calico.cjs /usr/bin/calico", "/app/dist/src/entry/calico.cjs /usr/bin/calico").join()).toMatch(/\/usr\/bin\/calico must be executable/);
    expect(broken("/app/dist/src/entry/calico.cjs /health", "/app/dist/src/main.js /health").join()).toMatch(/\/health must be \/app\/dist\/src\/entry\/calico.cjs/);
  });

  it("lints clean with dockerfile-utils (and the linter flags a broken file)", (ctx) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-dockerlint-"));
    try {
      const bad = path.join(tmp, "Dockerfile.bad");
      fs.writeFileSync(bad, "FROM node:20-bookworm-slim\nCOPY package.json\nFOO bar\n");
      // npx caches the package after the first fetch; without network and cache it cannot run.
      const lint = (file: string) =>
        spawnSync("npx", ["--yes", "dockerfile-utils@0.16.3", "lint", file], { cwd: root, encoding: "utf8", timeout: 120_000 });
      const badRun = lint(bad);
      const out = `${badRun.stdout}${badRun.stderr}`;
      if (!/COPY requires at least two arguments/.test(out)) {
        if (/npm (ERR!|error)|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED/.test(out) || badRun.error) {
          ctx.skip(`dockerfile-utils@0.16.3 unavailable (npm registry unreachable and not cached): ${out.trim().split("\n").pop() ?? badRun.error?.message}`);
        }
        throw new Error(`dockerfile-utils did not flag a broken Dockerfile:\n${out}`);
      }
      expect(out).toMatch(/Unknown instruction: FOO/);
      expect(badRun.status).not.toBe(0);
      const good = lint(path.join(root, "Dockerfile"));
      expect(good.stdout.trim()).toBe("");
      expect(good.status).toBe(0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe(".dockerignore", () => {
  const df = parseDockerfile(dockerfileText);
  const contextCopies = df.stages.flatMap((s) => s.instructions).filter((i) => i.keyword === "COPY" && i.flags.from === undefined);

  it("keeps every file the build stage copies from the context", () => {
    const sources = contextCopies.flatMap((c) => copyArgs(c).sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(fs.existsSync(path.join(root, s)), `${s} exists`).toBe(true);
      expect(ignored(s), `${s} is in the build context`).toBe(false);
    }
    expect(ignored("src/main.ts")).toBe(false);
  });

  it("leaves local state and secrets out of the context", () => {
    for (const p of ["node_modules", "node_modules/x/index.js", "dist/src/main.js", ".git/HEAD", ".tools/helm/helm", ".env",
      "vitest-report.json", "test/unit/a.test.ts", "coverage/index.html", "deploy/deployment.yaml", "helm/tributary/Chart.yaml"]) {
      expect(ignored(p), `${p} is ignored`).toBe(true);
    }
  });

  it("matches the way Docker does (the matcher can fail)", () => {
    const m = ignoreMatcher("*\n!src/\nsrc/**/*.log\n!keep.txt\n");
    expect([m("a"), m("src/a.ts"), m("src/x/y.log"), m("src/y.log"), m("keep.txt"), m("dir/keep.txt")]).toEqual([true, false, true, true, false, true]);
  });
});

// ---------------------------------------------------------------------------------------------

/** A process of the image's file set, its output kept for failure messages. */
function startCaptured(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** GETs `url` every 200 ms, at most `tries` times and while `child` runs, until it answers 200: the last status. */
async function statusWhileRunning(url: string, child: ChildProcess, tries: number): Promise<number> {
  let status = 0;
  for (let i = 0; i < tries && status !== 200 && child.exitCode === null; i++) {
    status = await fetch(url).then((r) => r.status, () => 0);
    if (status !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  return status;
}

describe("image file set", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-image-"));
  const natsServers: Awaited<ReturnType<typeof startNatsServer>>[] = [];
  afterAll(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    for (const n of natsServers) await n.stop();
  });

  it("replays the build stage, and the runtime stage's files start and serve", { timeout: 300_000 }, async () => {
    const df = parseDockerfile(dockerfileText);
    const build = df.stages[0]!;
    const runtime = df.stages[df.stages.length - 1]!;
    // Container paths map into the temporary directory: /app → <tmp>/<stage>/app.
    const inStage = (stage: string, p: string, workdir: string) => path.join(tmp, stage, path.posix.resolve(workdir, p));
    const log: string[] = [];

    let workdir = "/";
    for (const ins of build.instructions) {
      if (ins.keyword === "WORKDIR") {
        workdir = path.posix.resolve(workdir, ins.rest);
        fs.mkdirSync(inStage("build", ".", workdir), { recursive: true });
      } else if (ins.keyword === "COPY") {
        const { sources, dest } = copyArgs(ins);
        for (const s of sources) {
          const target = dest.endsWith("/") ? inStage("build", path.posix.join(dest, path.posix.basename(s)), workdir) : inStage("build", dest, workdir);
          copyFromContext(s, target);
        }
      } else if (ins.keyword === "RUN") {
        if (/\bnpm ci\b/.test(ins.rest)) {
          // Stand-in for `npm ci`: the checkout's own node_modules, installed from the same
          // lockfile. A real `npm ci` needs the registry and minutes on this 2-core machine.
          expect(ins.rest, "the npm ci step does nothing else").toMatch(/^npm ci( --[a-z-]+)*$/);
          fs.cpSync(path.join(root, "node_modules"), inStage("build", "node_modules", workdir), { recursive: true, verbatimSymlinks: true });
          continue;
        }
        const r = spawnSync("sh", ["-c", ins.rest], {
          cwd: inStage("build", ".", workdir),
          encoding: "utf8",
          timeout: 240_000,
          env: { ...process.env, npm_config_prefer_offline: "true", npm_config_update_notifier: "false" },
        });
        log.push(`$ ${ins.rest}\n${r.stdout}${r.stderr}`);
        expect(r.status, `RUN ${ins.rest} (Dockerfile line ${ins.line}) failed:\n${log.join("\n")}`).toBe(0);
      }
    }

    const env: Record<string, string> = {};
    workdir = "/";
    for (const ins of runtime.instructions) {
      if (ins.keyword === "WORKDIR") workdir = path.posix.resolve(workdir, ins.rest);
      if (ins.keyword === "ENV") {
        const [k, v = ""] = ins.rest.split("=", 2);
        env[k!] = v;
      }
      if (ins.keyword === "COPY") {
        const { sources, dest } = copyArgs(ins);
        for (const s of sources) {
          const target = inStage("runtime", dest, workdir);
          fs.mkdirSync(path.dirname(target), { recursive: true });
          fs.cpSync(path.join(tmp, "build", s), target, { recursive: true, verbatimSymlinks: true });
          if (ins.flags.chmod) fs.chmodSync(target, parseInt(ins.flags.chmod, 8));
        }
      }
    }
    const app = inStage("runtime", ".", workdir);
    expect(fs.readdirSync(app).sort()).toEqual([...RUNTIME_FILES].sort());
    expect(fs.existsSync(path.join(app, "dist/src/main.js"))).toBe(true);
    // Pruned: no package the lockfile marks dev-only reached the runtime file set (a dev
    // dependency that a production one also needs, like @types/node, is not marked dev).
    const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages).filter(([p, v]) => v.dev === true && p.startsWith("node_modules/"));
    expect(devOnly.length, "the lockfile marks dev-only packages").toBeGreaterThan(0);
    const leaked = devOnly.map(([p]) => p).filter((p) => fs.existsSync(path.join(app, p)));
    expect(leaked, "dev-only packages in the runtime image").toEqual([]);
    expect(fs.existsSync(path.join(app, "node_modules/commander")), "production dependencies kept").toBe(true);

    const entry = execForm(runtime.instructions.filter((i) => i.keyword === "ENTRYPOINT").pop()!.rest)!;
    const cmd = execForm(runtime.instructions.filter((i) => i.keyword === "CMD").pop()!.rest)!;
    // Only PATH from the host: the image has no other environment.
    const runEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env };
    const help = spawnSync(entry[0]!, [...entry.slice(1), "--help"], { cwd: app, encoding: "utf8", env: runEnv, timeout: 60_000 });
    expect(help.status, `${entry.join(" ")} --help:\n${help.stdout}${help.stderr}`).toBe(0);
    expect(help.stdout).toMatch(/\bserve\b/);

    // ENTRYPOINT + CMD as the container would run it, on free loopback ports.
    const [port, healthPort] = [await freePort(), await freePort()];
    const serve = startCaptured(entry[0]!, [...entry.slice(1), ...cmd], app, {
      ...runEnv, HOST: "127.0.0.1", PORT: String(port), HEALTH_HOST: "127.0.0.1", HEALTH_PORT: String(healthPort), LOG_LEVEL: "warn",
    });
    try {
      const status = await statusWhileRunning(`http://127.0.0.1:${healthPort}/liveness`, serve.child, 100);
      expect(status, `GET /liveness from the runtime file set; output:\n${serve.output()}`).toBe(200);
    } finally {
      serve.child.kill("SIGTERM");
    }
    expect(await serve.exited, `exit code after SIGTERM; output:\n${serve.output()}`).toBe(0);

    // The operator's command and probes, executed as the kubelet would (shebang, exec bit), from
    // the image paths: `calico component goldmane` serves; `/health` and `calico health` see it.
    const stageRoot = path.join(tmp, "runtime");
    const [port2, healthPort2] = [await freePort(), await freePort()];
    const probeEnv = { ...runEnv, HEALTH_PORT: String(healthPort2) };
    const probe = (cmd: string, args: string[]) => spawnSync(path.join(stageRoot, cmd), args, { cwd: "/", env: probeEnv, encoding: "utf8", timeout: 10_000 }).status;
    expect(probe("health", ["-live"]), "/health -live with nothing listening").toBe(1);
    const goldmane = startCaptured(path.join(stageRoot, "usr/bin/calico"), ["component", "goldmane"], "/", {
      ...runEnv, PORT: String(port2), HEALTH_PORT: String(healthPort2), LOG_LEVEL: "warn",
    });
    try {
      let ready: number | null = 1;
      for (let i = 0; i < 100 && ready !== 0 && goldmane.child.exitCode === null; i++) {
        ready = probe("usr/bin/calico", ["health", `--port=${healthPort2}`, "--type=readiness"]);
        if (ready !== 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready, `calico health --type=readiness against calico component goldmane; output:\n${goldmane.output()}`).toBe(0);
      expect(probe("usr/bin/calico", ["health", `--port=${healthPort2}`, "--type=liveness"])).toBe(0);
      expect(probe("health", ["-ready"])).toBe(0);
      expect(probe("health", ["-live"])).toBe(0);
    } finally {
      goldmane.child.kill("SIGTERM");
    }
    expect(await goldmane.exited, `calico component goldmane exit code after SIGTERM; output:\n${goldmane.output()}`).toBe(0);

    // Cluster mode from the built files: the replica reads the log on a thread whose module is
    // dist/src/cluster/log-reader-worker.js. It turns ready only once it applied the entry below.
    const nats = await startNatsServer("image");
    natsServers.push(nats);
    const qc = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(qc)).streams.add({ name: "image", subjects: ["image.log"] });
      const w = new LogBatchWriter();
      const update = toBinary(FlowUpdateSchema, wireUpdate(Math.floor(Date.now() / 1000) - 20));
      w.add("10.9.0.1", update, 0, update.length);
      expect((await jetstream(qc).publish("image.log", w.seal(Date.now()))).seq).toBe(1);
    } finally {
      await qc.close();
    }
    const [port3, healthPort3] = [await freePort(), await freePort()];
    const query = startCaptured(entry[0]!, [...entry.slice(1), ...cmd], app, {
      ...runEnv, HOST: "127.0.0.1", PORT: String(port3), HEALTH_HOST: "127.0.0.1", HEALTH_PORT: String(healthPort3), LOG_LEVEL: "info", NATS_URL: nats.url, CLUSTER_ROLE: "query", CLUSTER_STREAM: "image",
    });
    try {
      const status = await statusWhileRunning(`http://127.0.0.1:${healthPort3}/readiness`, query.child, 150);
      expect(status, `GET /readiness of a query replica from the runtime file set; output:\n${query.output()}`).toBe(200);
      expect(query.output()).toMatch(/"sequence":1,[^\n]*"msg":"replica caught up with the log"/);
    } finally {
      query.child.kill("SIGTERM");
    }
    expect(await query.exited, `query replica exit code after SIGTERM; output:\n${query.output()}`).toBe(0);
  });
});
