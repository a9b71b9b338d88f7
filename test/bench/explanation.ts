/** The fixed part of BENCHMARKS.md, written by run.ts after the generated table. */
export const EXPLANATION = `
## How each figure is measured

All areas run with \`npm run bench\` (= \`node --expose-gc --import tsx test/bench/run.ts\`); one area
with \`npm run bench -- query\` (areas: \`ingest\`, \`streams\`, \`query\`, \`rollover\`, \`heap\`, \`rss\`; only a
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
  that follow the clock, so a bucket is fanned out every 2 s (7.5× the fan-out rate of the
  default 15 s). The same 10 s load against a fresh server without streams, with 100
  Flows.Stream subscriptions each filtered to one of the 20 destination namespaces (~250 results
  per stream per bucket), and with 100 unfiltered ones (every key to every stream: ~250 000
  results/s); three interleaved rounds, medians compared, because one 10 s run swings ±20 % here.
  The consumers run in a third process and only count gRPC frames (no decoding), so the figure is
  the server's cost; the server must report 100 open streams before the load starts.
  Cost = 1 − (median flows/s with streams ÷ median flows/s without).
- **query/** (\`query-bench.ts\`, \`ring.ts\`): steady-state rings built in this process with a manual
  clock (W = 15 s, 240 buckets of history): key k is active for 20 consecutive buckets from bucket
  ⌊k·P/n⌋ of every period of P = 262 buckets, one emission per key per bucket from one of 50
  nodes, so about n keys are live and spread over the hour, and keys expire and return as in a
  cluster. Each case is timed through the method module (request parse, query, protobuf result
  build and binary serialisation as for a gRPC client; Statistics consumed to the end of its
  stream) with a real handler context: 100 runs at
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
- **rss/** (\`store-bench.ts\`): 10k and then 100k keys, each with a window in all 240 buckets,
  ingested bucket by bucket with the clock moving (claims expire as in a server); the process's
  RSS after a GC (it includes the bench's own encoded updates and, for 100k, what the 10k ring
  left to the allocator). RSS at rest is \`tributary serve\` with defaults (see the issue 15
  section of BENCHMARKS.md).

## What limits the targets that are not met, and what would fix them

- **Heap per key** (~2.1 KB against ≤ 1 KiB; per key-bucket ~114 B meets ≤ 120 B). Fixed on the
  way: identity strings built with \`+\` were V8 cons-string trees (~1.7 KB per key) and are now
  flat; label strings are pooled and label sets indexed by a verified hash instead of a JSON
  string; policy traces are interned. Taking a 100k-key store apart after a GC now attributes
  (bytes per key): label sets ~490 (≈ 1.7 distinct sets per key in this workload, each a frozen
  array plus two map entries), the key object and its policy-hit objects ~460 (this workload has
  ~65 000 distinct traces for 100 000 keys, so interning shares little), the fast lane's memo of
  encoded signatures ~480, the canonical identity string and map entry ~220, PolicyStats'
  per-slot line cache ~240. Node runs without pointer compression, so every object slot is 8
  bytes. What would reach 1 KiB: key fields as interned ids in typed columns (no object per key),
  traces and label sets as id lists in shared Int32 pools, the memo keyed by a 64-bit hash with
  the encoded bytes kept once in a slab, and PolicyStats' lines cached per trace, not per key.
- **Statistics PolicyRule with time_series at 100k** (~1 000 rules × 240 buckets ≈ 1.5 M points,
  a 2 MB response): results are now encoded straight from numbers (no bigint per point; the
  figure includes serialisation, which the first measurements did not), but the query
  (~70–170 ms: per-bucket arrays for every rule) and the encoding (~75 ms) together stay above
  100 ms, and p99 shows GC pauses from the millions of array slots. What would fix it: keep each
  rule's series in one typed array per result and encode it directly, and stream results as
  they are built instead of building all first.
- **100 unfiltered streams** (every key to every stream at W = 2 s: ~250 000 results/s). The
  stream fast lane costs the server ~1.2 µs per result per stream (Connect: ~28 µs); what remains
  is the consumers and the load generator sharing two cores with the server at a rate no client
  can read — the streams' queues overflow and end with RESOURCE_EXHAUSTED as designed. The
  filtered case (the realistic one: a UI watches a namespace) meets the target. What would settle
  the unfiltered figure: a machine with a core for the consumers.
`
