import type { AddressInfo } from "node:net";
import { createClient, type ConnectRouter, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { SessionTable as V1Table, type sessionRequest } from "../../gen/openoffload/v1/openoffload_pb.js";
import { SessionTable as OpiTable, type SessionRequest } from "../../gen/opi_api/security/firewall/v1/openoffload_pb.js";
import { normalizeAddress } from "../../kube/index.js";
import type { Logger } from "../../observability/logger.js";
import { createRpcListener, type DualHandler } from "../../server/listener.js";
import { ipv4FromWire, ipv6FromBytes, type Ipv4ByteOrder } from "../ip-address.js";
import { parseSessionId } from "../session-id.js";
import { fromOpiResponse, fromV1Response } from "./device-reader.js";
import type { SessionCatalog } from "./session-catalog.js";
import { ActionType, type SessionDescriptor } from "./types.js";

/** Dependencies of {@link createSessionTap}. */
export interface SessionTapDeps {
  /** Transport to the device. */
  transport: Transport;
  catalog: SessionCatalog;
  log: Logger;
  nowSec: () => number;
  onDescribed?: (n: number) => void;
}

/** A pass-through SessionTable in front of one device. */
export interface SessionTap {
  listen(): Promise<AddressInfo>;
  close(graceMs?: number): Promise<void>;
  /** The Connect routes (for in-process use). */
  routes(router: ConnectRouter): void;
}

const v6 = (b: Uint8Array) => (b.length === 16 ? ipv6FromBytes(b) : "");

function describeFields(
  r: { ipVersion: number; sourceIp: number; sourceIpV6: Uint8Array; sourcePort: number; destinationIp: number; destinationIpV6: Uint8Array; destinationPort: number; protocol: number; action: number; proxyDstV4: number; proxyDstV6: Uint8Array },
  order: Ipv4ByteOrder,
): SessionDescriptor {
  const ipv6 = r.ipVersion === 1;
  const addr = (v4: number, v6b: Uint8Array) => normalizeAddress(ipv6 ? v6(v6b) : ipv4FromWire(v4 >>> 0, order));
  const d: SessionDescriptor = {
    sourceIp: addr(r.sourceIp, r.sourceIpV6),
    sourcePort: r.sourcePort,
    destinationIp: addr(r.destinationIp, r.destinationIpV6),
    destinationPort: r.destinationPort,
    protocol: r.protocol,
    action: r.action,
  };
  if (r.action === ActionType.PROXY) d.proxyDestinationIp = addr(r.proxyDstV4, r.proxyDstV6);
  return d;
}

/** The descriptor of an OPI `SessionRequest` (IPv4 decoded in `order`, reference §2.8). */
export function describeOpiRequest(r: SessionRequest, order: Ipv4ByteOrder = "le"): SessionDescriptor {
  return describeFields(
    {
      ipVersion: r.ipversion,
      sourceIp: r.sourceip,
      sourceIpV6: r.sourceipv6,
      sourcePort: r.sourceport,
      destinationIp: r.destinationip,
      destinationIpV6: r.destinationipv6,
      destinationPort: r.destinationport,
      protocol: r.protocolid,
      action: r.action?.actiontype ?? 0,
      proxyDstV4: r.action?.proxydstv4 ?? 0,
      proxyDstV6: r.action?.proxydstv6 ?? new Uint8Array(0),
    },
    order,
  );
}

/** The descriptor of an openoffload.v1 `sessionRequest`. */
export function describeV1Request(r: sessionRequest, order: Ipv4ByteOrder = "le"): SessionDescriptor {
  return describeFields(
    {
      ipVersion: r.ipVersion,
      sourceIp: r.sourceIp,
      sourceIpV6: r.sourceIpV6,
      sourcePort: r.sourcePort,
      destinationIp: r.destinationIp,
      destinationIpV6: r.destinationIpV6,
      destinationPort: r.destinationPort,
      protocol: r.protocolId,
      action: r.action?.actionType ?? 0,
      proxyDstV4: 0,
      proxyDstV6: new Uint8Array(0),
    },
    order,
  );
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* replay<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

/**
 * The AddSession tap: a pass-through `SessionTable` (both dialects, forwarded as they come) that
 * the firewall application talks to instead of the device. The device's read API returns
 * counters only, never addresses, ports, protocol or action, so this is where the bridge learns
 * what each session *is*: every session the device accepts is described in the catalog under
 * `device`. Delete replies and drained sessions passing through are recorded as final reads, so
 * those sessions lose no final delta. Errors from the device pass through unchanged.
 */
export function createSessionTap(device: string, order: Ipv4ByteOrder, listen: { host: string; port: number }, deps: SessionTapDeps): SessionTap {
  const opi = createClient(OpiTable, deps.transport);
  const v1 = createClient(V1Table, deps.transport);
  const { catalog } = deps;
  const final = (s: ReturnType<typeof fromV1Response>) => {
    catalog.final(device, s);
    catalog.ended(device, s.id, deps.nowSec());
  };
  const opiImpl: ServiceImpl<typeof OpiTable> = {
    async addSession(requests, ctx) {
      const reqs = await collect(requests);
      const res = await opi.addSession(replay(reqs), { signal: ctx.signal });
      const failed = new Set(res.responseerror.map((e) => parseSessionId(e.sessionid?.value ?? "")?.key));
      let n = 0;
      for (const r of reqs) {
        const id = parseSessionId(r.sessionId?.value ?? "")?.key;
        if (id === undefined || failed.has(id)) continue;
        catalog.describe(device, id, describeOpiRequest(r, order));
        n++;
      }
      deps.onDescribed?.(n);
      return res;
    },
    getSession: (req, ctx) => opi.getSession(req, { signal: ctx.signal }),
    async deleteSession(req, ctx) {
      const res = await opi.deleteSession(req, { signal: ctx.signal });
      try {
        final(fromOpiResponse(res));
      } catch {
        // A reply the bridge cannot read is still the device's answer.
      }
      return res;
    },
    getAllSession: (req, ctx) => opi.getAllSession(req, { signal: ctx.signal }),
  };
  const v1Impl: ServiceImpl<typeof V1Table> = {
    async addSession(requests, ctx) {
      const reqs = await collect(requests);
      const res = await v1.addSession(replay(reqs), { signal: ctx.signal });
      const failed = new Set(res.responseError.map((e) => e.sessionId.toString()));
      let n = 0;
      for (const r of reqs) {
        const id = r.sessionId.toString();
        if (failed.has(id)) continue;
        catalog.describe(device, id, describeV1Request(r, order));
        n++;
      }
      deps.onDescribed?.(n);
      return res;
    },
    getSession: (req, ctx) => v1.getSession(req, { signal: ctx.signal }),
    async deleteSession(req, ctx) {
      const res = await v1.deleteSession(req, { signal: ctx.signal });
      if (res.sessionId !== 0n || res.requestStatus !== 2) {
        try {
          final(fromV1Response(res));
        } catch {
          // Pass the device's answer through even when it is not readable.
        }
      }
      return res;
    },
    getAllSessions: (req, ctx) => v1.getAllSessions(req, { signal: ctx.signal }),
    async *getClosedSessions(req, ctx) {
      for await (const s of v1.getClosedSessions(req, { signal: ctx.signal })) {
        try {
          final(fromV1Response(s));
        } catch {
          // idem
        }
        yield s;
      }
    },
  };
  const routes = (router: ConnectRouter) => {
    router.service(OpiTable, opiImpl);
    router.service(V1Table, v1Impl);
  };
  const handler = connectNodeAdapter({ routes, grpc: true, grpcWeb: true, connect: true });
  const listener = createRpcListener({ host: listen.host, port: listen.port, handler: handler as DualHandler });
  deps.log.debug({ device }, "session tap created");
  return {
    routes,
    listen: () => listener.listen(),
    close: (graceMs = 2000) => listener.close(graceMs),
  };
}
