import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../helpers/spawn.js";

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

it("committed src/gen matches `buf generate` of proto/ (regenerate with npm run gen)", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-gen-"));
  try {
    execFileSync(path.join(ROOT, "node_modules/.bin/buf"), ["generate", "--output", out], { cwd: ROOT, stdio: "pipe" });
    const fresh = path.join(out, "src/gen");
    const committed = path.join(ROOT, "src/gen");
    expect(listFiles(committed)).toEqual(listFiles(fresh));
    for (const f of listFiles(fresh)) {
      expect(fs.readFileSync(path.join(committed, f), "utf8"), f).toBe(fs.readFileSync(path.join(fresh, f), "utf8"));
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

it("proto/goldmane/api.proto is the seed contract plus exactly issue 13's upstream changes", () => {
  const seed = path.join(ROOT, "../shared/seeds/goldmane-api.proto");
  if (!fs.existsSync(seed)) return; // the seed lives beside the repo in this workplace only
  // Calico v3.32's StringMatch in PolicyMatch (PR #12108) and Flow IPs (PR #13063), with comments.
  const stripComments = (s: string) => s.replace(/^\s*\/\/.*\n/gm, "").replace(/\n\s*\n/g, "\n");
  const expected = fs
    .readFileSync(seed, "utf8")
    .replace(/message PolicyMatch \{[^}]*\}/, (m) => m.replace(/string (tier|namespace|name) = ([234]);/g, "StringMatch $1 = $2;"))
    .replace("int64 num_connections_live = 12;\n", "int64 num_connections_live = 12;\n  repeated string source_ips = 13;\n  repeated string dest_ips = 14;\n");
  expect(stripComments(fs.readFileSync(path.join(ROOT, "proto/goldmane/api.proto"), "utf8"))).toBe(stripComments(expected));
});
