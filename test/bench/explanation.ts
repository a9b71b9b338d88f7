/** The fixed part of BENCHMARKS.md, written by run.ts after the generated table. */
export const EXPLANATION = `
## How each figure is measured

All areas run with \`npm run bench\` (= \`node --expose-gc --import tsx test/bench/run.ts\`); one area
with \`npm run bench -- query\` (areas: \`ingest\`, \`streams\`, \`query\`, \`rollover\`, \`heap\`; only a
run without arguments rewrites this file). The workload is seeded (\`test/bench/workload.ts\`): 20
namespaces, 400 workloads, 5–10 labels per side, 1–3 enforced hits from 40 policies, 20 % with a
pending hit. Timings are never asserted; a target column says whether this run met it.

- **ingest/** (\`ingest-bench.ts\`, \`loadgen.ts\`, \`sink.ts\`): the real server in this process, a load
  generator in its own process sending pre-encoded FlowUpdate frames (only end_time patched, so
  dedup never drops one) over 4 gRPC streams from 127.0.0.2–5 with 4096 updates in flight each,
  5000 keys, 10 s. Flows/s = receipts ÷ elapsed. Afterwards List must account for every
  receipted flow (each carries packets_in = 1). The same load then goes to the Connect path
  (\`INGEST_FAST_LANE=false\`) and to a plain Connect-node server that only decodes and receipts.
- **streams/** (\`stream-bench.ts\`, \`stream-clients.ts\`): \`AGGREGATION_WINDOW=2s\` and start times
  that follow the clock, so a bucket is fanned out every 2 s. The same 10 s load against a fresh
  server without streams, then with 100 Flows.Stream subscriptions opened by
  @connectrpc/connect-node gRPC clients in a third process (the server's \`goldmane_num_streams\`
  gauge must show 100 before the load starts): once each filtered to one of the 20 destination
  namespaces (about 250 results per stream per bucket), once unfiltered (all ~5000 keys to every
  stream, 250 000 results/s in total, more than a 10 000-result queue absorbs: those streams end
  with RESOURCE_EXHAUSTED, as designed). Cost = 1 − (flows/s with streams ÷ flows/s without).
  On this 2-core machine the consumer process shares the cores with the load generator and the
  server, so part of the cost is the consumers' own CPU.
- **query/** (\`query-bench.ts\`, \`ring.ts\`): steady-state rings built in this process with a manual
  clock (W = 15 s, 240 buckets of history): key k is active for 20 consecutive buckets from bucket
  ⌊k·P/n⌋ of every period of P = 262 buckets, one emission per key per bucket from one of 50
  nodes, so about n keys are live and spread over the hour, and keys expire and return as in a
  cluster. Each case is timed through the method module (request parse, query, protobuf result
  build; Statistics consumed to the end of its stream) with a real handler context: 100 runs at
  10k keys, 50 at 100k, after a warm-up of a tenth of that. p50/p99 are nearest-rank percentiles.
  The deep page is the middle of the default order; "last 5 min" is \`start_time_gte = -300\`.
- **rollover/** (\`store-bench.ts\`): on the 100k ring after the queries, 60 rollovers, each timed
  around \`tick()\` (= \`advanceTo\` one W, including PolicyStats' recycle), with the next bucket's
  flows (~7 600) ingested between rollovers.
- **heap/** (\`store-bench.ts\`): \`heapUsed + arrayBuffers\` after three forced GCs (typed-array columns
  live outside the JS heap) for 100k keys × 1 bucket and for the same keys × 20 buckets, against a
  baseline taken with the encoded updates already built; solved for bytes per key and per
  key-bucket (H1 = n·(k + b), H20 = n·(k + 20·b)). The fast lane's memo of encoded keys counts as
  per-key memory.

## What limits the targets that are not met, and what would fix them

- **Heap per key** (~4.8 KB against ≤ 1 KiB; per key-bucket ~108 B meets ≤ 120 B). Taking a
  50k-key store apart after a GC attributes it as: label sets ~1.3 KB per key (≈ 1.7 distinct sets
  per key, each a frozen array of label strings that are *not* interned across sets, plus its
  canonical JSON string and two map entries), the key's identity string and map entry ~1.9 KB
  (a 105-character signature retains far more than its length; flattening it did not change the
  figure, so the retention needs a heap snapshot to pin down), the fast lane's memo of encoded
  signatures ~0.5 KB, the interned key object with its hit objects ~0.5 KB, PolicyStats' per-slot
  Int32Array ~0.23 KB. What would fix it: intern label strings through the reference-counted
  StringPool and key label sets by a hash of interned ids instead of a JSON string; key identity
  by a 64-bit hash of the canonical bytes with the bytes kept once (the memo signature and the
  canonical signature are two copies of nearly the same information); key fields as interned ids
  in typed columns and the policy trace interned once per distinct trace (shared by every key
  with that trace) instead of per-key hit objects; a key's PolicyStats lines as an offset into
  one shared Int32Array.
- **Statistics PolicyRule with time_series at 100k** (~1 000 rules × 240 buckets = ~1.5 M points): the
  query itself now takes ~40 ms; most of the rest is \`server/statistics-service.ts\` converting
  every point of seven arrays to a BigInt (\`xs.map(BigInt)\`) and \`create()\` copying them. A
  zero-sharing conversion loop (\`v === 0 ? 0n : BigInt(v)\`; four of a rule's six arrays are all
  zero) measured ~2× faster in isolation; it belongs to the server module, which is being
  changed for issue 8, so it is left to that change.
- **Rollover at 100k keys** (p50 ≈ 20 ms, p99 ≈ 24 ms against ≤ 20 ms; not profiled yet). Each
  rollover recycles ~7 600 windows (O(rows), typed columns) but then runs \`LabelSets.sweep()\`, which
  walks *every* live label set (~170 000 here) to drop unreferenced ones. Likely fix: queue the
  ids whose count reaches zero (and sets interned but never referenced) and sweep only those,
  making rollover O(windows recycled).
- **100 streams** (cost ~40–50 % against ≤ 10 %). On this 2-core machine the load generator, the
  100 consumers (a third process decoding ~6 000 results/s over 100 HTTP/2 streams) and the server
  share two cores: a CPU profile of the server shows it ~24 % idle across the run, i.e. part of
  the "cost" is the consumers starving the load generator, not server work. Server-side, fan-out
  costs one protobuf \`create\` per result (shared by all streams, \`stream-hub.ts\`) plus, per stream
  and result, Connect-node's serialisation, envelope and async-iterator hop. What would fix it:
  serialise each FlowResult once and write the cached bytes to every stream (a fan-out lane on
  \`node:http2\` like the ingest fast lane), batch a bucket's results per stream into one write,
  and measure on a machine with a core for the consumers.
`;
