import type { SessionDescriptor, SessionSnapshot } from "./types.js";

/**
 * What the bridge knows about sessions beyond the device's read API, per device: descriptors
 * (addresses, ports, protocol, action) and final reads taken on the way past (a delete reply, a
 * drain seen by the tap). Fed by the AddSession tap ({@link createSessionTap}) or by any caller
 * that knows the sessions (`describe`). Descriptors are dropped `ttlSec` after the session ended.
 */
export interface SessionCatalog {
  /** Records the descriptor of session `id` (canonical id text) on `device`. */
  describe(device: string, id: string, d: SessionDescriptor): void;
  lookup(device: string, id: string): SessionDescriptor | undefined;
  /** Records a final read of a session that left the device (delete reply, drain). */
  final(device: string, s: SessionSnapshot): void;
  /** Takes (and clears) the final reads recorded for `device` since the last call. */
  takeFinals(device: string): SessionSnapshot[];
  /** Known sessions of a device (for GetSession polling of devices that list nothing). */
  ids(device: string): string[];
  /** Marks a session ended; its descriptor is forgotten after the ttl (late flows still map). */
  ended(device: string, id: string, nowSec: number): void;
  /** Drops descriptors of sessions that ended more than the ttl ago. */
  expire(nowSec: number): void;
}

/** Creates an in-memory {@link SessionCatalog}. */
export function createSessionCatalog(options: { ttlSec: number }): SessionCatalog {
  const descriptors = new Map<string, Map<string, { d: SessionDescriptor; endedSec?: number }>>();
  const finals = new Map<string, SessionSnapshot[]>();
  const of = (device: string) => {
    let m = descriptors.get(device);
    if (!m) descriptors.set(device, (m = new Map()));
    return m;
  };
  return {
    describe: (device, id, d) => void of(device).set(id, { d }),
    lookup: (device, id) => descriptors.get(device)?.get(id)?.d,
    final(device, s) {
      const list = finals.get(device) ?? [];
      list.push(s);
      finals.set(device, list);
    },
    takeFinals(device) {
      const list = finals.get(device) ?? [];
      finals.delete(device);
      return list;
    },
    ids: (device) => [...(descriptors.get(device)?.keys() ?? [])],
    ended(device, id, nowSec) {
      const e = descriptors.get(device)?.get(id);
      if (e && e.endedSec === undefined) e.endedSec = nowSec;
    },
    expire(nowSec) {
      for (const m of descriptors.values()) {
        for (const [id, e] of m) if (e.endedSec !== undefined && nowSec - e.endedSec > options.ttlSec) m.delete(id);
      }
    },
  };
}
