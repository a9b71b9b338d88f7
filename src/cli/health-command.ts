import { Command, Option } from "commander";
import { ConfigError } from "../config/parse.js";
import { SERVE_SETTINGS } from "../config/serve-config.js";

/**
 * `tributary health [--type readiness|liveness]`: probes a running server's health port (the
 * same check the image's `/health` and `calico health` entries make, src/entry/calico.cts), for
 * exec probes and scripts. Exit 0 healthy, 1 not healthy or unreachable, 2 bad configuration.
 */
export function registerHealthCommand(program: Command): void {
  program
    .command("health")
    .description("probe a running server's health port: exit 0 when healthy, 1 otherwise")
    .addOption(new Option("--type <type>", "readiness or liveness").choices(["readiness", "liveness"]).default("readiness"))
    .option("--host <host>", "health host to probe [env HEALTH_HOST; wildcard or unset = localhost]")
    .option("--port <port>", "health port to probe [env HEALTH_PORT, default 8080]")
    .option("--timeout <duration>", "give up after this long (Go duration)", "1s")
    .action(async (o: { type: "readiness" | "liveness"; host?: string; port?: string; timeout: string }) => {
      // Loaded when the command runs (the probe's code is not part of a serving process).
      const { default: calico } = await import("../entry/calico.cjs");
      let host: string;
      let port: number;
      let timeoutMs: number;
      try {
        port = setting("healthPort", "HEALTH_PORT", "--port", o.port) as number;
        host = (setting("healthHost", "HEALTH_HOST", "--host", o.host) as string) || "localhost";
        if (host === "0.0.0.0" || host === "::") host = "localhost";
        timeoutMs = calico.parseGoDurationMs(o.timeout.trim());
        if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ConfigError("--timeout", `must be a positive duration, got "${o.timeout}"`);
        if (port === 0) throw new ConfigError("HEALTH_PORT", "is 0: the health port is not at a fixed address");
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`tributary: invalid configuration: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
      const r = await calico.probeHealth(host, port, o.type, timeoutMs);
      process.stdout.write(`${o.type} ${r.ok ? "ok" : "failed"}: ${r.detail}\n`);
      process.exitCode = r.ok ? 0 : 1;
    });
}

/** One serve setting's value from its flag or variable (the serve table's parser and default). */
function setting(key: "healthPort" | "healthHost", env: string, flag: string, fromFlag: string | undefined): unknown {
  const s = SERVE_SETTINGS.find((x) => x.key === key)!;
  const fromEnv = process.env[env];
  const raw = fromFlag ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : s.default);
  try {
    return s.parse(raw);
  } catch (e) {
    throw new ConfigError(fromFlag !== undefined ? `${env} (${flag})` : env, (e as Error).message);
  }
}
