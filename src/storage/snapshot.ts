import type { FlowIpsRecord } from "./flow-ips.js";
import { COUNTERS, type FlowKeyModel } from "../model/flow.js";
import { keyString, traceString } from "../model/flow-key.js";
import { NONE } from "./flow-series.js";
import { NO_NODE, type FlowStore } from "./flow-store.js";

/**
 * Snapshots of the aggregation state (DESIGN §4: Goldmane loses its hour of history on restart;
 * Tributary saves it on shutdown and periodically, and restores it on start).
 *
 * Format, version 1: the magic line, a uint32 (LE) header length, a JSON header (window, next id,
 * node names, label sets, keys with their ids), then the windows and the dedup claims as raw
 * little-endian typed-array columns. Pure: bytes in, bytes out, no I/O.
 */
const MAGIC = Buffer.from("TRIBUTARY-SNAPSHOT 1\n", "latin1");

interface Header {
  version: 1;
  windowSec: number;
  savedAtSec: number;
  nextId: number;
  nodes: string[];
  labels: string[][];
  keys: { id: number; key: FlowKeyModel }[];
  rows: number;
  claims: number;
  /** Flow IPs (DESIGN §6d), only when some agent sent them; older snapshots have none. */
  ips?: FlowIpsRecord[];
}

/** What a restore did. */
export interface RestoreSummary {
  keys: number;
  windows: number;
  /** Windows older than the ring (or newer than its future bucket) when restored. */
  skippedWindows: number;
  claims: number;
}

/** Thrown for a file that is not a usable snapshot; the caller logs it and starts empty. */
export class SnapshotError extends Error {}

function columns(bytes: Buffer[]): Buffer {
  return Buffer.concat(bytes);
}

const asBytes = (a: Int32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Serialises every key, window and current dedup claim of `store`. */
export function encodeSnapshot(store: FlowStore, nodeNames: readonly string[], savedAtSec: number): Buffer {
  const keys = store.keys;
  const s = store.series;
  const keyIndex = new Map<number, number>();
  const headerKeys: Header["keys"] = [];
  const labelIndex = new Map<number, number>();
  const labels: string[][] = [];
  const labelOf = (id: number) => {
    let i = labelIndex.get(id);
    if (i === undefined) {
      i = labels.length;
      labels.push([...store.labels.values(id)]);
      labelIndex.set(id, i);
    }
    return i;
  };
  let rowCount = 0;
  for (let slot = 0; slot < keys.slotLimit; slot++) {
    const key = keys.keys[slot];
    if (key === undefined) continue;
    keyIndex.set(slot, headerKeys.length);
    headerKeys.push({ id: keys.ids[slot]!, key });
    for (let r = keys.oldest[slot]!; r !== NONE; r = s.next[r]!) rowCount++;
  }
  const rowKey = new Int32Array(rowCount);
  const rowStart = new Float64Array(rowCount);
  const rowCounters = new Float64Array(rowCount * COUNTERS);
  const rowSrc = new Int32Array(rowCount);
  const rowDst = new Int32Array(rowCount);
  const claimRow: number[] = [];
  const claimNode: number[] = [];
  const claimStart: number[] = [];
  const claimEnd: number[] = [];
  const claimFrom = store.claimHorizonStart;
  let i = 0;
  for (let slot = 0; slot < keys.slotLimit; slot++) {
    if (keys.keys[slot] === undefined) continue;
    for (let r = keys.oldest[slot]!; r !== NONE; r = s.next[r]!, i++) {
      rowKey[i] = keyIndex.get(slot)!;
      rowStart[i] = s.start[r]!;
      rowCounters.set(s.counters.subarray(r * COUNTERS, r * COUNTERS + COUNTERS), i * COUNTERS);
      rowSrc[i] = labelOf(s.sourceLabels[r]!);
      rowDst[i] = labelOf(s.destLabels[r]!);
      if (s.start[r]! < claimFrom) continue;
      s.forEachClaim(r, (node, start, end) => {
        claimRow.push(i);
        claimNode.push(node);
        claimStart.push(start);
        claimEnd.push(end);
      });
    }
  }
  const header: Header = {
    version: 1,
    windowSec: store.windowSec,
    savedAtSec,
    nextId: keys.peekNextId,
    nodes: [...nodeNames],
    labels,
    keys: headerKeys,
    rows: rowCount,
    claims: claimRow.length,
  };
  const ips = store.ips.records();
  if (ips.length > 0) header.ips = ips;
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  return columns([
    MAGIC,
    len,
    json,
    asBytes(rowKey),
    asBytes(rowStart),
    asBytes(rowCounters),
    asBytes(rowSrc),
    asBytes(rowDst),
    asBytes(Int32Array.from(claimRow)),
    asBytes(Int32Array.from(claimNode)),
    asBytes(Float64Array.from(claimStart)),
    asBytes(Float64Array.from(claimEnd)),
  ]);
}

/** Reads `n` elements of a typed array at `pos` (copied: the buffer may be unaligned). */
function read<T extends Int32Array | Float64Array>(ctor: { new (n: number): T; BYTES_PER_ELEMENT: number }, bytes: Buffer, pos: number, n: number): T {
  const out = new ctor(n);
  const size = n * ctor.BYTES_PER_ELEMENT;
  if (pos + size > bytes.length) throw new SnapshotError("snapshot is truncated");
  new Uint8Array(out.buffer).set(bytes.subarray(pos, pos + size));
  return out;
}

/**
 * Restores a snapshot into an empty `store` laid out around "now": windows outside the ring are
 * skipped, keys left without windows are dropped, ids are kept and never handed out again, dedup
 * claims within the replay horizon come back (so agents' replays after our restart are not
 * counted twice), and observers (policy statistics) see every restored window like an ingest.
 * `nodeId` interns a node name of the snapshot in the caller's node table.
 */
export function restoreSnapshot(store: FlowStore, bytes: Buffer, nodeId: (name: string) => number): RestoreSummary {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotError("not a Tributary snapshot (version 1)");
  let pos = MAGIC.length;
  const headerLen = bytes.readUInt32LE(pos);
  pos += 4;
  if (pos + headerLen > bytes.length) throw new SnapshotError("snapshot is truncated");
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(pos, pos + headerLen).toString("utf8")) as Header;
  } catch {
    throw new SnapshotError("snapshot header is not valid JSON");
  }
  pos += headerLen;
  if (header.version !== 1) throw new SnapshotError(`unsupported snapshot version ${String(header.version)}`);
  if (header.windowSec !== store.windowSec) {
    throw new SnapshotError(`snapshot has AGGREGATION_WINDOW ${header.windowSec}s, the server runs ${store.windowSec}s`);
  }
  const n = header.rows;
  const rowKey = read(Int32Array, bytes, pos, n);
  pos += n * 4;
  const rowStart = read(Float64Array, bytes, pos, n);
  pos += n * 8;
  const rowCounters = read(Float64Array, bytes, pos, n * COUNTERS);
  pos += n * COUNTERS * 8;
  const rowSrc = read(Int32Array, bytes, pos, n);
  pos += n * 4;
  const rowDst = read(Int32Array, bytes, pos, n);
  pos += n * 4;
  const c = header.claims;
  const claimRow = read(Int32Array, bytes, pos, c);
  pos += c * 4;
  const claimNode = read(Int32Array, bytes, pos, c);
  pos += c * 4;
  const claimStart = read(Float64Array, bytes, pos, c);
  pos += c * 8;
  const claimEnd = read(Float64Array, bytes, pos, c);

  const summary: RestoreSummary = { keys: 0, windows: 0, skippedWindows: 0, claims: 0 };
  const slots = header.keys.map(({ id, key }) => {
    const signature = keyString(key, traceString(key.enforced, key.pending));
    return store.keys.lookup(signature) ?? store.keys.insert(signature, key, id);
  });
  store.keys.reserveIdsBelow(header.nextId);
  const labelIds = header.labels.map((values) => store.labels.intern(values));
  const restored = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const slot = slots[rowKey[i]!];
    if (slot === undefined || !store.ring.accepts(rowStart[i]!)) {
      summary.skippedWindows++;
      continue;
    }
    const counters = rowCounters.subarray(i * COUNTERS, i * COUNTERS + COUNTERS);
    store.addToKey(slot, rowStart[i]!, rowStart[i]!, labelIds[rowSrc[i]!]!, labelIds[rowDst[i]!]!, counters, NO_NODE);
    restored[i] = 1;
    summary.windows++;
  }
  const nodes = header.nodes.map(nodeId);
  for (let k = 0; k < c; k++) {
    const i = claimRow[k]!;
    if (!restored[i] || claimStart[k]! < store.claimHorizonStart) continue;
    if (store.restoreClaim(slots[rowKey[i]!]!, nodes[claimNode[k]!]!, claimStart[k]!, claimEnd[k]!)) summary.claims++;
  }
  if (header.ips) {
    const slotOfId = new Map<number, number>();
    header.keys.forEach(({ id }, j) => slotOfId.set(id, slots[j]!));
    for (const [id, b, src, dst] of header.ips) {
      const slot = slotOfId.get(id);
      if (slot !== undefined && store.ring.accepts(b)) store.addIps(slot, b, src, dst);
    }
  }
  store.removeEmptyKeys();
  summary.keys = store.keyCount;
  return summary;
}
