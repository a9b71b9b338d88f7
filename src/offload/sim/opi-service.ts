import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { UuidSchema } from "../../gen/opi_api/common/v1/uuid_pb.js";
import {
  AddSessionResponseSchema,
  SessionResponseErrorSchema,
  SessionResponseSchema,
  SessionResponsesSchema,
  SessionTable,
  type ActionParameters,
  type AddSessionResponse,
  type SessionRequest,
  type SessionResponse,
} from "../../gen/opi_api/security/firewall/v1/openoffload_pb.js";
import type { OffloadDevice } from "./device.js";
import { mapErrors, readStream } from "./rpc.js";
import type { ActionSpec, AddOutcome, SessionSpec, SessionView } from "./types.js";

const EMPTY = new Uint8Array(0);

/** The dialect-neutral spec of an OPI `SessionRequest`. */
export function fromOpiRequest(r: SessionRequest): SessionSpec {
  return {
    id: r.sessionId?.value ?? "",
    inLif: r.inlif,
    outLif: r.outlif,
    ipVersion: r.ipversion,
    sourceIp: r.sourceip,
    sourceIpV6: r.sourceipv6,
    sourcePort: r.sourceport,
    destinationIp: r.destinationip,
    destinationIpV6: r.destinationipv6,
    destinationPort: r.destinationport,
    protocol: r.protocolid,
    action: fromOpiAction(r.action),
    cacheTimeoutSec: r.cachetimeout,
    srcConnId: r.srcconnid,
    dstConnId: r.dstconnid,
  };
}

function fromOpiAction(a: ActionParameters | undefined): ActionSpec {
  return {
    type: a?.actiontype ?? 0,
    nextHop: a?.actionnexthop ?? 0,
    nextHopV6: a?.actionnexthopv6 ?? EMPTY,
    proxySrcV4: a?.proxysrcv4 ?? 0,
    proxyDstV4: a?.proxydstv4 ?? 0,
    proxySrcV6: a?.proxysrcv6 ?? EMPTY,
    proxyDstV6: a?.proxydstv6 ?? EMPTY,
    srcConnId: a?.srcconnid ?? EMPTY,
    dstConnId: a?.dstconnid ?? EMPTY,
  };
}

/** The OPI `SessionResponse` of a session snapshot. */
export function toOpiResponse(v: SessionView): SessionResponse {
  return create(SessionResponseSchema, {
    sessionid: create(UuidSchema, { value: v.id }),
    inpackets: BigInt(v.inPackets),
    outpackets: BigInt(v.outPackets),
    inbytes: BigInt(v.inBytes),
    outbytes: BigInt(v.outBytes),
    sessionstate: v.state,
    sessionclosecode: v.closeCode,
    requeststatus: 0,
    starttime: timestampFromMs(v.startMs),
    endtime: v.endMs === undefined ? undefined : timestampFromMs(v.endMs),
  });
}

/** The OPI `AddSessionResponse` of an add outcome. */
export function toOpiAddResponse(o: AddOutcome): AddSessionResponse {
  return create(AddSessionResponseSchema, {
    requeststatus: o.status,
    errorstatus: o.errorBits,
    starttime: timestampFromMs(o.startMs),
    responseerror: o.errors.map((e) => create(SessionResponseErrorSchema, { sessionid: create(UuidSchema, { value: e.id }), errorstatus: e.code })),
  });
}

/**
 * The seed's `opi_api.security.firewall.v1.SessionTable` over the shared device. Thin: decode,
 * delegate, encode (STYLE.md §3).
 */
export function opiSessionTableService(device: OffloadDevice): ServiceImpl<typeof SessionTable> {
  return {
    async addSession(requests) {
      const specs = await readStream(requests, fromOpiRequest, device);
      return toOpiAddResponse(device.addSessions(specs, "opi"));
    },
    getSession: (req) => mapErrors(() => toOpiResponse(device.get(req.sessionId))),
    deleteSession: (req) => mapErrors(() => toOpiResponse(device.delete(req.sessionId))),
    getAllSession(req) {
      const page = device.listOpi({ id: req.sessionid?.value ?? "", state: req.sessionstate, startKey: req.startkey });
      return create(SessionResponsesSchema, { sessioninfo: page.sessions.map(toOpiResponse), nextkey: page.nextKey });
    },
  };
}

export { SessionTable as OpiSessionTable };
