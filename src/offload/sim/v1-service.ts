import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  addSessionResponseSchema,
  sessionResponseErrorSchema,
  sessionResponseSchema,
  sessionResponsesSchema,
  SessionTable,
  type addSessionResponse,
  type sessionRequest,
  type sessionResponse,
} from "../../gen/openoffload/v1/openoffload_pb.js";
import type { OffloadDevice } from "./device.js";
import { mapErrors, readStream } from "./rpc.js";
import type { AddOutcome, SessionSpec, SessionView } from "./types.js";

const EMPTY = new Uint8Array(0);

/** The dialect-neutral spec of an openoffload.v1 `sessionRequest`; the id becomes its decimal text. */
export function fromV1Request(r: sessionRequest): SessionSpec {
  return {
    id: r.sessionId.toString(),
    inLif: r.inLif,
    outLif: r.outLif,
    ipVersion: r.ipVersion,
    sourceIp: r.sourceIp,
    sourceIpV6: r.sourceIpV6,
    sourcePort: r.sourcePort,
    destinationIp: r.destinationIp,
    destinationIpV6: r.destinationIpV6,
    destinationPort: r.destinationPort,
    protocol: r.protocolId,
    action: {
      type: r.action?.actionType ?? 0,
      nextHop: r.action?.actionNextHop ?? 0,
      nextHopV6: r.action?.actionNextHopV6 ?? EMPTY,
      proxySrcV4: 0,
      proxyDstV4: 0,
      proxySrcV6: EMPTY,
      proxyDstV6: EMPTY,
      srcConnId: EMPTY,
      dstConnId: EMPTY,
    },
    cacheTimeoutSec: r.cacheTimeout,
    srcConnId: EMPTY,
    dstConnId: EMPTY,
  };
}

/** The openoffload.v1 `sessionResponse` of a session snapshot (the id is the numeric id). */
export function toV1Response(v: SessionView): sessionResponse {
  return create(sessionResponseSchema, {
    sessionId: v.numericId,
    inPackets: BigInt(v.inPackets),
    outPackets: BigInt(v.outPackets),
    inBytes: BigInt(v.inBytes),
    outBytes: BigInt(v.outBytes),
    sessionState: v.state,
    sessionCloseCode: v.closeCode,
    requestStatus: 0,
    startTime: timestampFromMs(v.startMs),
    endTime: v.endMs === undefined ? undefined : timestampFromMs(v.endMs),
  });
}

/** The openoffload.v1 `addSessionResponse` of an add outcome; each error echoes the client's id. */
export function toV1AddResponse(o: AddOutcome): addSessionResponse {
  return create(addSessionResponseSchema, {
    requestStatus: o.status,
    errorStatus: o.errorBits,
    startTime: timestampFromMs(o.startMs),
    responseError: o.errors.map((e) => create(sessionResponseErrorSchema, { sessionId: BigInt(e.id), errorStatus: e.code })),
  });
}

/**
 * The deployed `openoffload.v1.SessionTable` over the shared device, compatible with the reference
 * Python clients (openoffload-v1-interface.md §8): AddSession always answers OK with per-session
 * errors, getClosedSessions is a destructive drain that answers an empty OK stream when nothing is
 * closed. Unlike the reference simulator, unknown ids get NOT_FOUND (DESIGN.md §6).
 */
export function v1SessionTableService(device: OffloadDevice): ServiceImpl<typeof SessionTable> {
  return {
    async addSession(requests) {
      const specs = await readStream(requests, fromV1Request, device);
      return toV1AddResponse(device.addSessions(specs, "v1"));
    },
    getSession: (req) => mapErrors(() => toV1Response(device.get(req.sessionId))),
    deleteSession: (req) => mapErrors(() => toV1Response(device.delete(req.sessionId))),
    getAllSessions(req) {
      const page = device.listV1({ pageSize: req.pageSize, page: req.page, startSession: req.startSession });
      return create(sessionResponsesSchema, { sessionInfo: page.sessions.map(toV1Response), nextkey: page.nextKey });
    },
    async *getClosedSessions(req) {
      for (const v of device.drainClosed(req.pageSize)) yield toV1Response(v);
    },
  };
}

export { SessionTable as V1SessionTable };
