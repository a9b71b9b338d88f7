import { toJson, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Command, CommanderError, Option } from "commander";
import {
  FilterHintsResultSchema,
  FlowListResultSchema,
  FlowResultSchema,
  Flows,
  SortBy,
  Statistics,
  StatisticsGroupBy,
  StatisticsResultSchema,
  StatisticType,
  type FilterType,
  type StatisticsResult,
} from "../gen/goldmane/api_pb.js";
import { FLOW_HEADER, FLOW_NUMERIC, flowRow, formatTable, hintRows, statsTable } from "./flows-output.js";
import {
  baseUrlOf,
  collect,
  DEFAULT_ADDR,
  durationSec,
  filterOf,
  parseAction,
  parseCount,
  parseGroupBy,
  parseHintType,
  parsePolicyKind,
  parsePort,
  parseReporter,
  parseSort,
  parseStatType,
  parseTime,
  policyMatches,
  transportOf,
  UsageError,
  type ConnectionFlags,
  type FilterFlags,
} from "./flows-options.js";

type Output = "table" | "json";
type Common = ConnectionFlags & { output: Output };

/** Exit codes: 1 for a failed call (server error, unreachable), 2 for a bad command line. */
const EXIT_CALL = 1;
const EXIT_USAGE = 2;

function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option("--addr <url>", "server address: http://host:port (h2c) or https://host:port (TLS); host:port means http", DEFAULT_ADDR)
    .option("--ca <file>", "PEM CA bundle to verify the server's certificate (https)")
    .option("--cert <file>", "PEM client certificate for mTLS (with --key)")
    .option("--key <file>", "PEM private key of --cert")
    .option("--insecure-skip-verify", "do not verify the server's certificate (testing only)")
    .option("--token <base64>", "session token, sent as tributary-session-bin metadata")
    .addOption(new Option("--timeout <duration>", "deadline of a unary call").default(10, "10s").argParser(durationSec))
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"));
}

function addFilterOptions(cmd: Command): Command {
  const many = "(repeatable; ~x matches names containing x)";
  return cmd
    .option("--source-name <name>", `source endpoint name ${many}`, collect(String))
    .option("--source-namespace <ns>", `source namespace ${many}`, collect(String))
    .option("--dest-name <name>", `destination endpoint name ${many}`, collect(String))
    .option("--dest-namespace <ns>", `destination namespace ${many}`, collect(String))
    .option("--protocol <proto>", "protocol, e.g. tcp (repeatable)", collect(String))
    .option("--port <port>", "destination port (repeatable)", collect(parsePort))
    .option("--action <action>", "allow | deny | pass (repeatable)", collect(parseAction))
    .option("--pending-action <action>", "action of the pending (staged) policies (repeatable)", collect(parseAction))
    .option("--reporter <side>", "src | dst", parseReporter)
    .option("--policy-tier <tier>", "policy tier (repeatable; ~text = substring)", collect(String))
    .option("--policy-name <name>", "policy name (repeatable; ~text = substring)", collect(String))
    .option("--policy-namespace <ns>", "policy namespace (repeatable; ~text = substring)", collect(String))
    .option("--policy-kind <kind>", "policy kind, e.g. CalicoNetworkPolicy (repeatable)", collect(parsePolicyKind))
    .option("--policy-action <action>", "action of the matching policy rule (repeatable)", collect(parseAction));
}

function addTimeOptions(cmd: Command, what: string): Command {
  return cmd
    .option("--since <when>", `start of the ${what}: a duration back (15m, 24h, 7d, 30d), a date (2026-11-30T12:00:00Z) or Unix seconds`, parseTime)
    .option("--until <when>", `end of the ${what}: a duration back or Unix seconds (default now)`, parseTime);
}

function json<D extends DescMessage>(schema: D, msg: MessageShape<D>, pretty: boolean): string {
  return toJsonString(schema, msg, { alwaysEmitImplicit: true, prettySpaces: pretty ? 2 : 0 });
}

/** One line for a failed call; an unreachable server is named as such. */
function describeError(e: unknown, addr: string): string {
  if (e instanceof UsageError) return e.message;
  const err = ConnectError.from(e);
  const cause = (err.cause as { code?: unknown } | undefined)?.code;
  if ((typeof cause === "string" && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause)) || /certificate|tls|ssl/i.test(err.rawMessage)) {
    return `TLS with ${addr} failed: ${err.rawMessage} (trust the server's CA with --ca, or --insecure-skip-verify for a test server)`;
  }
  if (err.code === Code.Unavailable) return `cannot reach ${addr}: ${err.message}`;
  if (err.code === Code.DeadlineExceeded) return `no answer from ${addr} in time: ${err.message}`;
  if (err.code === Code.Unauthenticated || err.code === Code.PermissionDenied) return `${err.message} (pass a session token with --token)`;
  return err.message;
}

/**
 * Runs a subcommand body; failures print one line on stderr and set the exit code. The process
 * exits when stdout is flushed, so an idle HTTP/2 session kept by the transport cannot hold it.
 */
async function run(name: string, flags: Common, body: () => Promise<void>): Promise<void> {
  let code = 0;
  try {
    await body();
  } catch (e) {
    const addr = (() => {
      try {
        return baseUrlOf(flags.addr).origin;
      } catch {
        return flags.addr;
      }
    })();
    process.stderr.write(`tributary flows ${name}: ${describeError(e, addr).replace(/\s*\n\s*/g, " ")}\n`);
    code = e instanceof UsageError ? EXIT_USAGE : EXIT_CALL;
  }
  process.stdout.write("", () => process.exit(code));
}

/** The response header naming the bucket width an answer used (server/flows-list.ts, issue 16). */
const RESOLUTION_HEADER = "tributary-resolution";

/** ", resolution 300s" when the server said so (history answers; Goldmane sends none). */
const resolutionNote = (r: string) => (r === "" ? "" : `, resolution ${r}s`);

function rangeOf(flags: { since?: bigint; until?: bigint }) {
  return { startTimeGte: flags.since ?? 0n, startTimeLt: flags.until ?? 0n };
}

/**
 * `tributary flows list | stream | hints | stats`: a command-line client of the Flows and
 * Statistics services (works against Goldmane too), over gRPC with optional TLS and token.
 */
export function registerFlowsCommand(program: Command): void {
  const flows = program
    .command("flows")
    .description("query flows, live streams, filter hints and policy statistics of a running server")
    .showHelpAfterError(false)
    .configureOutput({ outputError: (str, write) => write(`tributary ${str.replace(/^error: /, "").trimEnd()} (see --help)\n`) })
    .exitOverride((err: CommanderError) => {
      // Help and version exit 0; every other command-line error is a usage error.
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    });

  const list = addTimeOptions(addFilterOptions(addConnectionOptions(flows.command("list").description("one page of aggregated flows (Flows/List)"))), "time range")
    .addOption(new Option("--sort <order>", "time | source-name | source-namespace | dest-name | dest-namespace").default(SortBy.Time, "time").argParser(parseSort))
    .addOption(new Option("--page <n>", "page number, from 0").default(0).argParser(parseCount))
    .addOption(new Option("--page-size <n>", "flows per page (0 = all)").default(0).argParser(parseCount))
    .option("--aggregation-interval <duration>", "one row per key per interval (a multiple of the aggregation window)", durationSec);
  list.action(async (f: Common & FilterFlags & { since?: bigint; until?: bigint; sort: SortBy; page: number; pageSize: number; aggregationInterval?: number }) =>
    run("list", f, async () => {
      let resolution = "";
      const client = createClient(Flows, transportOf(f));
      const res = await client.list(
        {
          ...rangeOf(f),
          page: BigInt(f.page),
          pageSize: BigInt(f.pageSize),
          sortBy: [{ sortBy: f.sort }],
          filter: filterOf(f),
          aggregationInterval: BigInt(f.aggregationInterval ?? 0),
        },
        { timeoutMs: f.timeout * 1000, onHeader: (h) => (resolution = h.get(RESOLUTION_HEADER) ?? "") },
      );
      if (f.output === "json") {
        process.stdout.write(json(FlowListResultSchema, res, true) + "\n");
        return;
      }
      process.stdout.write(formatTable(FLOW_HEADER, res.flows.map(flowRow), FLOW_NUMERIC));
      const total = res.meta?.totalResults ?? 0n;
      process.stdout.write(total === 0n ? "no flows\n" : `page ${f.page + 1} of ${res.meta?.totalPages ?? 0n}, ${total} flows${resolutionNote(resolution)}\n`);
    }),
  );

  const stream = addFilterOptions(addConnectionOptions(flows.command("stream").description("live flows as each aggregation window closes (Flows/Stream); Ctrl-C stops")))
    .option("--since <when>", "backfill from: a duration back (15m) or Unix seconds (default: no backfill)", parseTime)
    .option("--aggregation-interval <duration>", "0 or the server's aggregation window", durationSec)
    .option("--max-results <n>", "stop after n flows", parseCount);
  stream.action(async (f: Common & FilterFlags & { since?: bigint; aggregationInterval?: number; maxResults?: number }) =>
    run("stream", f, async () => {
      const client = createClient(Flows, transportOf(f));
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const widths = FLOW_HEADER.map((h) => Math.max(h.length, 8));
      const line = (cells: string[]) => cells.map((c, i) => (FLOW_NUMERIC.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd() + "\n";
      if (f.output === "table") process.stdout.write(line(FLOW_HEADER));
      let n = 0;
      try {
        for await (const r of client.stream({ startTimeGte: f.since ?? 0n, filter: filterOf(f), aggregationInterval: BigInt(f.aggregationInterval ?? 0) }, { signal: ac.signal })) {
          process.stdout.write(f.output === "json" ? json(FlowResultSchema, r, false) + "\n" : line(flowRow(r)));
          if (f.maxResults !== undefined && ++n >= f.maxResults) break;
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e; // Ctrl-C is the normal way to stop
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    }),
  );

  const hints = addTimeOptions(addFilterOptions(addConnectionOptions(flows.command("hints").description("values for a filter field (Flows/FilterHints)"))), "time range")
    .addOption(new Option("--type <field>", "source-name | source-namespace | dest-name | dest-namespace | policy-tier | policy-name | policy-kind | policy-namespace").argParser(parseHintType).makeOptionMandatory())
    .addOption(new Option("--page <n>", "page number, from 0").default(0).argParser(parseCount))
    .addOption(new Option("--page-size <n>", "values per page (0 = all)").default(0).argParser(parseCount));
  hints.action(async (f: Common & FilterFlags & { since?: bigint; until?: bigint; type: FilterType; page: number; pageSize: number }) =>
    run("hints", f, async () => {
      const client = createClient(Flows, transportOf(f));
      const res = await client.filterHints({ ...rangeOf(f), type: f.type, filter: filterOf(f), page: BigInt(f.page), pageSize: BigInt(f.pageSize) }, { timeoutMs: f.timeout * 1000 });
      if (f.output === "json") {
        process.stdout.write(json(FilterHintsResultSchema, res, true) + "\n");
        return;
      }
      process.stdout.write(formatTable(["VALUE"], hintRows(res.hints)));
    }),
  );

  const stats = addTimeOptions(addConnectionOptions(flows.command("stats").description("allowed/denied/passed counts per policy or rule (Statistics/List)")), "time range")
    .addOption(new Option("--group-by <g>", "policy | rule").default(StatisticsGroupBy.Policy, "policy").argParser(parseGroupBy))
    .addOption(new Option("--stat-type <t>", "packets | bytes | connections").default(StatisticType.PacketCount, "packets").argParser(parseStatType))
    .option("--time-series", "one data point per aggregation window instead of one total")
    .option("--policy-tier <tier>", "only this policy tier (~text = substring)", collect(String))
    .option("--policy-name <name>", "only this policy name (~text = substring)", collect(String))
    .option("--policy-namespace <ns>", "only this policy namespace (~text = substring)", collect(String))
    .option("--policy-kind <kind>", "only this policy kind", collect(parsePolicyKind))
    .option("--policy-action <action>", "only rules with this action", collect(parseAction));
  stats.action(async (f: Common & FilterFlags & { since?: bigint; until?: bigint; groupBy: StatisticsGroupBy; statType: StatisticType; timeSeries?: boolean }) =>
    run("stats", f, async () => {
      let resolution = "";
      const matches = policyMatches(f);
      if (matches.length > 1) throw new UsageError("stats takes one policy match: give each --policy-* flag at most once");
      const client = createClient(Statistics, transportOf(f));
      const results: StatisticsResult[] = [];
      for await (const r of client.list(
        { ...rangeOf(f), type: f.statType, groupBy: f.groupBy, timeSeries: f.timeSeries ?? false, policyMatch: matches[0] },
        { timeoutMs: f.timeout * 1000, onHeader: (h) => (resolution = h.get(RESOLUTION_HEADER) ?? "") },
      )) results.push(r);
      if (f.output === "json") {
        process.stdout.write(JSON.stringify(results.map((r) => toJson(StatisticsResultSchema, r, { alwaysEmitImplicit: true })), null, 2) + "\n");
        return;
      }
      process.stdout.write(statsTable(results, f.timeSeries ?? false));
      if (resolution !== "") process.stderr.write(`resolution ${resolution}s (the bucket width the server used for this range)\n`);
    }),
  );

  for (const c of [list, stream, hints, stats]) {
    c.showHelpAfterError(false).configureOutput({
      outputError: (str, write) => write(`tributary flows ${c.name()}: ${str.replace(/^error: /, "").trimEnd()} (see --help)\n`),
    });
  }
}
