import { Code, ConnectError } from "@connectrpc/connect";
import type { OffloadDevice } from "./device.js";
import { SessionTableError, type SessionTableErrorKind } from "./session-table.js";
import { MAX_SESSIONS_PER_STREAM } from "./types.js";

const CODES: Record<SessionTableErrorKind, Code> = {
  not_found: Code.NotFound,
  ambiguous: Code.FailedPrecondition,
  too_many: Code.InvalidArgument,
};

/**
 * Maps the table's typed errors to RPC codes, in one place for both dialects: an unknown id is
 * NOT_FOUND (DESIGN.md §6), an id shared by several sessions FAILED_PRECONDITION (reference §2.9),
 * a stream of more than 64 sessions INVALID_ARGUMENT. Anything else is rethrown as is (a bug,
 * sent as INTERNAL by Connect).
 */
export function toConnectError(err: unknown): never {
  if (err instanceof SessionTableError) throw new ConnectError(err.message, CODES[err.kind]);
  throw err;
}

/** Runs `f`, mapping table errors with {@link toConnectError}. */
export function mapErrors<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    return toConnectError(err);
  }
}

/**
 * Reads a client stream of at most 64 requests; the 65th ends the call with INVALID_ARGUMENT
 * without inserting anything.
 */
export async function readStream<T, S>(requests: AsyncIterable<T>, convert: (r: T) => S, device: OffloadDevice): Promise<S[]> {
  const specs: S[] = [];
  for await (const r of requests) {
    if (specs.length === MAX_SESSIONS_PER_STREAM) {
      device.refuseStream("too_many");
      throw new ConnectError(`AddSession: at most ${MAX_SESSIONS_PER_STREAM} sessions per stream, got more`, Code.InvalidArgument);
    }
    specs.push(convert(r));
  }
  return specs;
}

