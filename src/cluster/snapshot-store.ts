import { Objm, StorageType, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";

/** A snapshot in the bucket: storage/snapshot.ts bytes plus the log position they cover. */
export interface StoredSnapshot {
  bytes: Buffer;
  /** Stream sequence of the last log message applied before the snapshot was taken. */
  seq: number;
  /** The replica's log clock at that moment (Unix ms). */
  logTimeMs: number;
  /** Wall-clock time it was written (Unix ms). */
  writtenAtMs: number;
}

/** What is known about the newest snapshot without downloading it. */
export interface SnapshotInfo {
  seq: number;
  logTimeMs: number;
  writtenAtMs: number;
  size: number;
}

/** The snapshot bucket (issue 14 item 4): a JetStream object store holding one object, "state". */
export interface SnapshotStore {
  info(): Promise<SnapshotInfo | null>;
  load(): Promise<StoredSnapshot | null>;
  /**
   * Writes a snapshot covering stream sequence `seq` (the caller looks at {@link info} first).
   * Resolves with its `writtenAtMs`.
   */
  save(bytes: Buffer, seq: number, logTimeMs: number): Promise<number>;
}

const OBJECT = "state";

/** Opens (creating if missing) the object store bucket `bucket` with `replicas` copies. */
export async function openSnapshotStore(nc: NatsConnection, bucket: string, replicas: number, windowSec: number): Promise<SnapshotStore> {
  const objm = new Objm(nc);
  let os: ObjectStore;
  try {
    os = await objm.open(bucket);
  } catch {
    os = await objm.create(bucket, { replicas, storage: StorageType.File });
  }
  const info = async (): Promise<SnapshotInfo | null> => {
    const i = await os.info(OBJECT);
    if (!i || i.deleted) return null;
    const m = i.metadata ?? {};
    if (Number(m.windowSec) !== windowSec) return null;
    return { seq: Number(m.seq), logTimeMs: Number(m.logTimeMs), writtenAtMs: Number(m.writtenAtMs), size: i.size };
  };
  return {
    info,
    async load() {
      const i = await info();
      if (!i) return null;
      const blob = await os.getBlob(OBJECT);
      if (!blob) return null;
      return { bytes: Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength), seq: i.seq, logTimeMs: i.logTimeMs, writtenAtMs: i.writtenAtMs };
    },
    async save(bytes, seq, logTimeMs) {
      const writtenAtMs = Date.now();
      await os.putBlob(
        { name: OBJECT, metadata: { seq: String(seq), logTimeMs: String(logTimeMs), writtenAtMs: String(writtenAtMs), windowSec: String(windowSec) } },
        new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
      return writtenAtMs;
    },
  };
}
