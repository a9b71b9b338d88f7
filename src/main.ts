#!/usr/bin/env node
import { Command } from "commander";
import { registerServeCommand } from "./cli/serve-command.js";
import { registerFlowsCommand } from "./cli/flows-command.js";
import { registerOffloadSimCommand } from "./offload/sim-command.js";
import { registerOffloadBridgeCommand } from "./offload/bridge-command.js";
import { registerTokenCommand } from "./auth/token-command.js";
import { registerHealthCommand } from "./cli/health-command.js";

/**
 * CLI entry: `tributary serve | offload-sim | offload-bridge | flows … | token … | health`.
 * Each subcommand lives in its own module and registers itself on the program.
 */
const program = new Command("tributary")
  .description("Kubernetes flow aggregator, wire-compatible with Calico Goldmane")
  .showHelpAfterError()
  .enablePositionalOptions();

registerServeCommand(program);
registerFlowsCommand(program);
registerOffloadSimCommand(program);
registerOffloadBridgeCommand(program);
registerTokenCommand(program);
registerHealthCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tributary: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
