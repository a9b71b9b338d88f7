import { Command, Option } from "commander";
import { ConfigError } from "../config/parse.js";
import { loadServeConfig, SERVE_SETTINGS } from "../config/serve-config.js";
import { systemClock } from "../model/time.js";
import { createLogger } from "../observability/logger.js";
import { createTributaryServer } from "../server/app.js";

/**
 * `tributary serve`: the aggregator with its RPC, health and metrics ports. Every setting is an
 * environment variable (Goldmane's names first) and a flag that overrides it.
 */
export function registerServeCommand(program: Command): void {
  const cmd = program.command("serve", { isDefault: true }).description("run the flow aggregator");
  for (const s of SERVE_SETTINGS) {
    cmd.addOption(new Option(`${s.flag} <value>`, `${s.description} [env ${s.env}, default "${s.default}"]`));
  }
  cmd.action(async (flags: Record<string, unknown>) => {
    let config;
    try {
      config = loadServeConfig(process.env, flags);
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`tributary: invalid configuration: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
    const log = createLogger(config.logLevel);
    let server;
    try {
      server = createTributaryServer(config, { log, clock: systemClock });
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`tributary: invalid configuration: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "signal received");
      server!.close().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    try {
      await server.listen();
    } catch (err) {
      // Settings checked while starting (e.g. the emitter's certificate files) exit 2 like the rest.
      if (err instanceof ConfigError) {
        process.stderr.write(`tributary: invalid configuration: ${err.message}\n`);
        process.exit(2);
      }
      log.fatal({ err }, "cannot start");
      process.exit(1);
    }
  });
}
