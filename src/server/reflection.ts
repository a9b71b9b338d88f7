import { create, createRegistry, toBinary, type DescFile, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * gRPC server reflection, v1 and v1alpha (DESIGN §6d), so grpcurl, Postman and
 * `buf curl --reflect` work without the proto files. Answers from the generated code's own file
 * descriptors — the contract as upstream ships it, whatever encodings the server also accepts.
 * It is an ordinary bidi service on the RPC port: the auth interceptor treats it as a query.
 */

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
type ResponseInit = Omit<MessageInitShape<typeof v1.ServerReflectionResponseSchema>, "originalRequest" | "$typeName">;

/** The answering logic shared by both versions (their messages have the same shape). */
export interface Reflector {
  answer(req: Request): ResponseInit;
}

/** A file and everything it imports, the file first (what grpc-go sends). */
function withDependencies(file: DescFile): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile) => {
    // DescFile.name drops ".proto"; reflection speaks in the real file names.
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(f);
    f.dependencies.forEach(visit);
  };
  visit(file);
  return out;
}

function notFound(message: string): ResponseInit {
  return { messageResponse: { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } } };
}

/** Builds the reflection answers for `services` (plus the reflection services themselves). */
export function createReflector(services: readonly DescService[]): Reflector {
  const all = [...services, v1.ServerReflection, v1alpha.ServerReflection];
  const registry = createRegistry(...all.map((s) => s.file));
  const byName = new Map<string, DescFile>();
  for (const s of all) for (const f of withDependencies(s.file)) byName.set(f.proto.name, f);
  const files = (file: DescFile): ResponseInit => ({
    messageResponse: {
      case: "fileDescriptorResponse",
      value: { fileDescriptorProto: withDependencies(file).map((f) => toBinary(FileDescriptorProtoSchema, f.proto)) },
    },
  });
  /** The file defining a symbol: a type or service, or a member of one (method, field, value). */
  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    const s = symbol.startsWith(".") ? symbol.slice(1) : symbol;
    const direct = registry.get(s);
    if (direct) return direct.file;
    const dot = s.lastIndexOf(".");
    return dot > 0 ? registry.get(s.slice(0, dot))?.file : undefined;
  };
  return {
    answer(req) {
      const r = req.messageRequest;
      switch (r.case) {
        case "listServices":
          return { messageResponse: { case: "listServicesResponse", value: { service: all.map((s) => ({ name: s.typeName })) } } };
        case "fileByFilename": {
          const f = byName.get(r.value);
          return f ? files(f) : notFound(`file not found: ${r.value}`);
        }
        case "fileContainingSymbol": {
          const f = fileOfSymbol(r.value);
          return f ? files(f) : notFound(`symbol not found: ${r.value}`);
        }
        case "fileContainingExtension":
          return notFound(`extension not found: ${r.value.containingType} ${r.value.extensionNumber}`);
        case "allExtensionNumbersOfType":
          return registry.getMessage(r.value)
            ? { messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: [] } } }
            : notFound(`type not found: ${r.value}`);
        default:
          return { messageResponse: { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" } } };
      }
    },
  };
}

/** Registers grpc.reflection.v1 and v1alpha ServerReflection on `router`. */
export function reflectionRoutes(router: ConnectRouter, services: readonly DescService[]): void {
  const reflector = createReflector(services);
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const req of reqs) {
        yield create(v1.ServerReflectionResponseSchema, { ...(reflector.answer(req) as object), originalRequest: req });
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const req of reqs) {
        yield create(v1alpha.ServerReflectionResponseSchema, { ...(reflector.answer(req) as object), originalRequest: req });
      }
    },
  });
}
