import { clone, create, createFileRegistry, fromBinary, type DescMessage, type DescMethod, type DescService, type FileRegistry, type MessageShape } from "@bufbuild/protobuf";
import {
  EnumValueDescriptorProtoSchema,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_struct,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { file_goldmane_api, type PolicyMatch } from "../gen/goldmane/api_pb.js";
import { policyMatchFrom, stringMatchFromJson, wireField } from "./policy-match-wire.js";

/**
 * Lenient request decoding for the goldmane services (DESIGN §6d): one wire contract (upstream's
 * proto, what reflection and responses use) read in the encodings every Calico version sends.
 *
 * Connect decodes a request with the method's input schema before any of our code runs, so each
 * method is registered three times under the same path, each with a variant of `goldmane/api.proto`
 * built here at start-up, and one dispatcher picks by the request's codec:
 * - **binary** (gRPC, gRPC-web, Connect `application/proto`): `PolicyMatch` fields 2–4 as `bytes`,
 *   decoded field by field by `policy-match-wire.ts` (StringMatch or plain string);
 * - **JSON**: the same fields as `google.protobuf.Value` (a string or an object), and `PolicyKind`
 *   with v3.31's names for 7 and 8 (AdminNetworkPolicy, BaselineAdminNetworkPolicy), which our
 *   proto reserves: accepted in requests; responses write them as the numbers 7 and 8;
 * - unary methods called over gRPC/gRPC-web go to a server-streaming twin (identical on the wire)
 *   so that an undecodable body surfaces inside the interceptors, where
 *   {@link decodeErrorsAsInvalidArgument} turns it into INVALID_ARGUMENT; Connect unary binary
 *   gets the same code by rewriting Connect's error body.
 * Handlers see canonical messages only: the variant fields are converted before the call.
 */

const STRUCT_PROTO = "google/protobuf/struct.proto";

/** v3.30/v3.31's PolicyKind values that our (upstream's current) proto reserves. */
export const LEGACY_POLICY_KINDS: Readonly<Record<number, string>> = Object.freeze({
  7: "AdminNetworkPolicy",
  8: "BaselineAdminNetworkPolicy",
});

function variantRegistry(codec: "binary" | "json"): FileRegistry {
  const fp = clone(FileDescriptorProtoSchema, file_goldmane_api.proto);
  const pm = fp.messageType.find((m) => m.name === "PolicyMatch");
  if (!pm) throw new Error("goldmane.PolicyMatch missing from the generated descriptor");
  for (const f of pm.field) {
    if (f.number < 2 || f.number > 4) continue;
    if (codec === "binary") {
      f.type = FieldDescriptorProto_Type.BYTES;
      f.typeName = "";
    } else {
      f.type = FieldDescriptorProto_Type.MESSAGE;
      f.typeName = ".google.protobuf.Value";
    }
  }
  const kind = fp.enumType.find((e) => e.name === "PolicyKind");
  if (!kind) throw new Error("goldmane.PolicyKind missing from the generated descriptor");
  kind.reservedRange = kind.reservedRange.filter((r) => r.end <= 7 || r.start > 8);
  for (const [number, name] of Object.entries(LEGACY_POLICY_KINDS)) {
    kind.value.push(create(EnumValueDescriptorProtoSchema, { name, number: Number(number) }));
  }
  if (codec === "json") fp.dependency.push(STRUCT_PROTO);
  return createFileRegistry(fp, (name) => (name === STRUCT_PROTO ? file_google_protobuf_struct.proto : undefined));
}

let variants: { binary: FileRegistry; json: FileRegistry } | undefined;
function registries() {
  return (variants ??= { binary: variantRegistry("binary"), json: variantRegistry("json") });
}

function variantMessage(reg: FileRegistry, m: DescMessage): DescMessage {
  const v = reg.getMessage(m.typeName);
  if (!v) throw new Error(`${m.typeName} missing from the variant descriptor`);
  return v;
}

type Lenient = { filter?: { policies: unknown[] }; policyMatch?: unknown };

/** Replaces the variant PolicyMatch fields of a request with canonical StringMatches, in place. */
function normalize<T>(msg: T, codec: "binary" | "json"): T {
  const m = msg as Lenient;
  const field = codec === "binary" ? wireField : stringMatchFromJson;
  const conv = (p: unknown, path: string): PolicyMatch => policyMatchFrom(p as Parameters<typeof policyMatchFrom>[0], path, field as never);
  if (m.filter) m.filter.policies = m.filter.policies.map((p, i) => conv(p, `filter.policies[${i}]`));
  if (m.policyMatch) m.policyMatch = conv(m.policyMatch, "policy_match");
  return msg;
}

type AnyImpl = (req: unknown, ctx: unknown) => unknown;

function wrapImpl(method: DescMethod, fn: AnyImpl, codec: "binary" | "json"): AnyImpl {
  if (method.methodKind === "unary" || method.methodKind === "server_streaming") return (req, ctx) => fn(normalize(req, codec), ctx);
  return fn; // streaming input: FlowUpdate has no PolicyMatch; only the JSON enum names differ
}

/** How a request is encoded, from its content type (and a Connect GET's `encoding`). */
function codecOf(req: UniversalServerRequest): "json" | "grpc" | "binary" {
  const ct = (req.header.get("content-type") ?? "").toLowerCase();
  if (ct.includes("json")) return "json";
  if (req.method === "GET") {
    try {
      if (new URL(req.url).searchParams.get("encoding") === "json") return "json";
    } catch {
      /* not a full URL: fall through to binary */
    }
  }
  return ct.startsWith("application/grpc") ? "grpc" : "binary";
}

const PARSE_BINARY = "parse binary: ";

function isDecodeError(e: unknown): e is ConnectError {
  return e instanceof ConnectError && e.code === Code.Internal && e.rawMessage.startsWith(PARSE_BINARY);
}

function decodeError(e: ConnectError, typeName: string): ConnectError {
  return new ConnectError(`cannot decode ${typeName}: ${e.rawMessage.slice(PARSE_BINARY.length)}`, Code.InvalidArgument);
}

async function* remapIterable<T>(it: AsyncIterable<T>, typeName: string): AsyncIterable<T> {
  try {
    yield* it;
  } catch (e) {
    throw isDecodeError(e) ? decodeError(e, typeName) : e;
  }
}

/**
 * An undecodable binary request is INVALID_ARGUMENT on every method (Connect says INTERNAL).
 * Covers streaming calls, where Connect parses inside the interceptor chain; unary calls over
 * gRPC/gRPC-web reach it through their server-streaming twin (see this file's header).
 */
export const decodeErrorsAsInvalidArgument: Interceptor = (next) => async (req) => {
  const typeName = req.method.input.typeName;
  try {
    const res = await next(req);
    return res.stream ? { ...res, message: remapIterable(res.message, typeName) } : res;
  } catch (e) {
    throw isDecodeError(e) ? decodeError(e, typeName) : e;
  }
};

/** Connect unary binary: Connect's own error body for an undecodable request → invalid_argument. */
async function remapConnectUnary(res: UniversalServerResponse, typeName: string): Promise<UniversalServerResponse> {
  if (res.status !== 500 || res.body === undefined || !(Symbol.asyncIterator in Object(res.body)) || res.header?.get("content-encoding")) return res;
  const chunks: Uint8Array[] = [];
  for await (const c of res.body as AsyncIterable<Uint8Array>) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  let body: Uint8Array = bytes;
  let status = res.status;
  try {
    const err = JSON.parse(bytes.toString("utf8")) as { code?: string; message?: string };
    if (err.code === "internal" && typeof err.message === "string" && err.message.startsWith(PARSE_BINARY)) {
      err.code = "invalid_argument";
      err.message = `cannot decode ${typeName}: ${err.message.slice(PARSE_BINARY.length)}`;
      body = Buffer.from(JSON.stringify(err), "utf8");
      status = 400;
      res.header?.set("content-length", String(body.byteLength));
    }
  } catch {
    /* not Connect's JSON error body: pass it on unchanged */
  }
  return { ...res, status, body: createAsyncIterable([body]) };
}

/**
 * Registers `service`'s implemented methods on `router` with lenient decoding (this file's header).
 * `options` are per-service router options (e.g. JSON leniency for the collector).
 */
export function lenientService<S extends DescService>(
  router: ConnectRouter,
  service: S,
  impl: object,
  options?: Parameters<ConnectRouter["rpc"]>[2],
): void {
  const { binary, json } = registries();
  const fns = impl as Record<string, AnyImpl | undefined>;
  for (const method of service.methods) {
    const fn = fns[method.localName];
    if (fn === undefined) continue;
    const bound = fn.bind(impl) as AnyImpl;
    const binMethod = { ...method, input: variantMessage(binary, method.input) } as DescMethod;
    // Responses keep the canonical schema: kinds 7/8 go out as numbers, which every proto3 JSON
    // reader accepts (a v3.32 reader would turn the v3.31 names into 0).
    const jsonMethod = { ...method, input: variantMessage(json, method.input) } as DescMethod;
    const start = router.handlers.length;
    const rpc = router.rpc as (m: DescMethod, i: AnyImpl, o?: typeof options) => ConnectRouter;
    rpc(binMethod, wrapImpl(method, bound, "binary"), options);
    rpc(jsonMethod, wrapImpl(method, bound, "json"), options);
    if (method.methodKind === "unary") {
      const twin = { ...binMethod, methodKind: "server_streaming" } as DescMethod;
      const unary = wrapImpl(method, bound, "binary");
      rpc(
        twin,
        async function* (req: unknown, ctx: unknown) {
          yield await unary(req, ctx);
        } as AnyImpl,
        options,
      );
    }
    const [hBinary, hJson, hTwin] = router.handlers.splice(start) as [UniversalHandler, UniversalHandler, UniversalHandler?];
    const typeName = method.input.typeName;
    const dispatch = (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
      const codec = codecOf(req);
      if (codec === "json") return hJson(req);
      if (codec === "grpc" && hTwin) return hTwin(req);
      if (method.methodKind === "unary") return hBinary(req).then((res) => remapConnectUnary(res, typeName));
      return hBinary(req);
    };
    router.handlers.push(
      Object.assign(dispatch, {
        protocolNames: hBinary.protocolNames,
        service,
        method,
        requestPath: hBinary.requestPath,
        allowedMethods: hBinary.allowedMethods,
        supportedContentType: hBinary.supportedContentType,
      }),
    );
  }
}

/**
 * Decodes a binary request of `schema` the lenient way (for the fast lanes, which read requests
 * themselves): both PolicyMatch encodings. Throws protobuf-es's error or INVALID_ARGUMENT.
 */
export function fromBinaryLenient<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  return normalize(fromBinary(variantMessage(registries().binary, schema), bytes) as MessageShape<Desc>, "binary");
}
