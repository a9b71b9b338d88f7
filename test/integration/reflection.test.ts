import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import type { KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeToken, generateP256Key, issueToken, SESSION_HEADER } from "../../src/auth/index.js";
import { FlowCollector } from "../../src/gen/goldmane/api_pb.js";
import * as v1 from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { Verb } from "../../src/gen/tributary/session/v1/session_pb.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { ROOT } from "../helpers/spawn.js";
import { wireUpdate } from "../helpers/wire-flows.js";

// Issue 13 item 7: gRPC server reflection v1 and v1alpha on the RPC port, under AUTH_MODE.

const T0 = 1_700_000_010;
const BUF = path.join(ROOT, "node_modules/.bin/buf");
const run = promisify(execFile);

async function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer({}, T0);
  async function* gen() {
    yield wireUpdate(T0 - 60, { destName: "reflected-*" });
  }
  for await (const _ of createClient(FlowCollector, createGrpcTransport({ baseUrl: ts.baseUrl })).connect(gen())) void _;
}, 60_000);
afterAll(async () => {
  await ts?.close();
});

const SERVICES = [
  "goldmane.FlowCollector",
  "goldmane.Flows",
  "goldmane.Statistics",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "tributary.session.v1.SessionService",
];

describe("buf curl --reflect (a real reflection client)", () => {
  for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
    it(`lists services and calls Flows/List without proto files (${protocol})`, async () => {
      const list = await bufCurl(["--reflect-protocol", protocol, "--list-services", ts.baseUrl]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout.trim().split("\n").sort()).toEqual(SERVICES);
      const methods = await bufCurl(["--reflect-protocol", protocol, "--list-methods", ts.baseUrl]);
      expect(methods.code, methods.stderr + methods.stdout).toBe(0);
      const flows = methods.stdout.trim().split("\n").filter((m) => m.startsWith("goldmane.Flows/"));
      expect(flows.sort()).toEqual(["goldmane.Flows/FilterHints", "goldmane.Flows/List", "goldmane.Flows/Stream"]);
      expect(methods.stdout).toContain("goldmane.Statistics/List");
      // The schema comes from reflection: v3.32's StringMatch in PolicyMatch is known to the client.
      const call = await bufCurl([
        "--reflect-protocol",
        protocol,
        "-d",
        JSON.stringify({ filter: { destNames: [{ value: "reflected", type: "Fuzzy" }], policies: [{ name: { value: "allow-all" } }] } }),
        `${ts.baseUrl}/goldmane.Flows/List`,
      ]);
      expect(call.code, call.stderr).toBe(0);
      const res = JSON.parse(call.stdout) as { flows: { flow: { Key: { destName: string } } }[] };
      expect(res.flows.map((f) => f.flow.Key.destName)).toEqual(["reflected-*"]);
    }, 120_000);
  }
});

describe("the reflection service with generated clients", () => {
  it("v1: file_containing_symbol returns the upstream proto; errors for unknown names", async () => {
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: ts.baseUrl }));
    async function* reqs() {
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "goldmane.Flows.List" } };
      yield { messageRequest: { case: "fileByFilename" as const, value: "goldmane/api.proto" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "goldmane.Nope" } };
      yield { messageRequest: { case: "allExtensionNumbersOfType" as const, value: "goldmane.Flow" } };
    }
    const out: v1.ServerReflectionResponse[] = [];
    for await (const r of client.serverReflectionInfo(reqs())) out.push(r);
    expect(out).toHaveLength(4);
    const r0 = out[0]!.messageResponse;
    expect(r0.case, JSON.stringify(r0.value)).toBe("fileDescriptorResponse");
    const file = fromBinary(FileDescriptorProtoSchema, (r0.value as v1.FileDescriptorResponse).fileDescriptorProto[0]!);
    expect(file.name).toBe("goldmane/api.proto");
    const pm = file.messageType.find((m) => m.name === "PolicyMatch")!;
    expect(pm.field.filter((f) => f.number >= 2 && f.number <= 4).map((f) => f.typeName)).toEqual([".goldmane.StringMatch", ".goldmane.StringMatch", ".goldmane.StringMatch"]);
    const flow = file.messageType.find((m) => m.name === "Flow")!;
    expect(flow.field.filter((f) => f.number >= 13).map((f) => f.name)).toEqual(["source_ips", "dest_ips"]);
    expect(out[1]!.messageResponse.case).toBe("fileDescriptorResponse");
    expect(out[2]!.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: Code.NotFound } });
    expect(out[3]!.messageResponse).toMatchObject({ case: "allExtensionNumbersResponse", value: { baseTypeName: "goldmane.Flow", extensionNumber: [] } });
    expect(out[3]!.originalRequest?.messageRequest.value).toBe("goldmane.Flow");
  });

  it("v1alpha: list_services", async () => {
    const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl: ts.baseUrl }));
    async function* reqs() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
    }
    for await (const r of client.serverReflectionInfo(reqs())) {
      expect(r.messageResponse.case).toBe("listServicesResponse");
      expect((r.messageResponse.value as v1alpha.ListServiceResponse).service.map((s) => s.name).sort()).toEqual(SERVICES);
    }
  });
});

describe("reflection under AUTH_MODE=token", () => {
  let dir: string;
  let key: KeyObject;
  let authed: TestServer;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "reflection-auth-"));
    fs.mkdirSync(path.join(dir, "keys"));
    key = generateP256Key();
    fs.writeFileSync(path.join(dir, "keys/k.pem"), key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "bootstrap.json"), "[]");
    fs.writeFileSync(path.join(dir, "revoked.txt"), "");
    authed = await startTestServer(
      { AUTH_MODE: "token", AUTH_ISSUER_KEY_PATH: path.join(dir, "keys"), AUTH_BOOTSTRAP_PATH: path.join(dir, "bootstrap.json"), AUTH_REVOKED_PATH: path.join(dir, "revoked.txt") },
      T0,
    );
  }, 60_000);
  afterAll(async () => {
    await authed?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const token = (verb: Verb) => Buffer.from(encodeToken(issueToken(key, { owner: "test", ttlSec: 600, verb }, T0))).toString("base64");

  it("needs a QUERY token, like any query", async () => {
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: authed.baseUrl }));
    const call = async (headers: Record<string, string>) => {
      async function* reqs() {
        yield { messageRequest: { case: "listServices" as const, value: "" } };
      }
      const out = [];
      for await (const r of client.serverReflectionInfo(reqs(), { headers })) out.push(r);
      return out;
    };
    const none = await call({}).catch((e: unknown) => ConnectError.from(e));
    expect(none).toBeInstanceOf(ConnectError);
    expect((none as ConnectError).code).toBe(Code.Unauthenticated);
    const ingest = await call({ [SESSION_HEADER]: token(Verb.INGEST) }).catch((e: unknown) => ConnectError.from(e));
    expect((ingest as ConnectError).code).toBe(Code.PermissionDenied);
    expect(await call({ [SESSION_HEADER]: token(Verb.QUERY) })).toHaveLength(1);
    // buf curl with the token in --reflect-header
    const list = await bufCurl(["--reflect-header", `${SESSION_HEADER}: ${token(Verb.QUERY)}`, "--list-services", authed.baseUrl]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("goldmane.Flows");
    const denied = await bufCurl(["--list-services", authed.baseUrl]);
    expect(denied.code).not.toBe(0);
  }, 120_000);
});
