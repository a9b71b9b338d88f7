import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { FlowCollector, FlowReceiptSchema } from "../../src/gen/goldmane/api_pb.js";

/**
 * The comparison baseline of the ingest benchmark: a plain Connect-node gRPC server whose
 * FlowCollector.Connect only decodes each FlowUpdate (Connect does that) and receipts it.
 */
export async function startDecodeOnlySink(): Promise<{ port: number; close(): Promise<void>; decoded(): number }> {
  let decoded = 0;
  const receipt = create(FlowReceiptSchema);
  const routes = (router: ConnectRouter) =>
    router.service(FlowCollector, {
      async *connect(updates) {
        for await (const u of updates) {
          if (u.flow) decoded++;
          yield receipt;
        }
      },
    });
  const server = http2.createServer(connectNodeAdapter({ routes, grpc: true, connect: false, grpcWeb: false }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    decoded: () => decoded,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
