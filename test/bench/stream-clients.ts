/**
 * Flows.Stream consumers for the stream benchmark, run in their own process
 * (`tsx test/bench/stream-clients.ts '<json args>'`): N subscriptions over @connectrpc/connect-node
 * gRPC, each consuming as fast as it can. Prints "ready" once every call is open, and on SIGTERM
 * one JSON line with the results received.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Flows } from "../../src/gen/goldmane/api_pb.js";

interface Args {
  port: number;
  streams: number;
  /** Per stream, a dest-namespace filter (team-0 … team-19 round robin), or none. */
  filtered: boolean;
}

const args = JSON.parse(process.argv[2]!) as Args;
const client = createClient(Flows, createGrpcTransport({ baseUrl: `http://127.0.0.1:${args.port}` }));
const abort = new AbortController();
let received = 0;
let errors = 0;
let open = 0;

const one = async (i: number) => {
  const filter = args.filtered ? { destNamespaces: [{ value: `team-${i % 20}` }] } : undefined;
  try {
    const call = client.stream({ filter }, { signal: abort.signal, onHeader: () => ++open === args.streams && process.stdout.write("ready\n") });
    for await (const _ of call) received++;
  } catch (e) {
    if (!abort.signal.aborted) {
      errors++;
      process.stderr.write(`stream ${i}: ${String(e)}\n`);
    }
  }
};

const all = Promise.all(Array.from({ length: args.streams }, (_, i) => one(i)));
// Stay alive until told to stop, even if every stream ended early (e.g. RESOURCE_EXHAUSTED).
const keepAlive = setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => {
  abort.abort();
  void all.then(() => {
    clearInterval(keepAlive);
    process.stdout.write(JSON.stringify({ received, errors, open }) + "\n");
    process.exit(0);
  });
});
