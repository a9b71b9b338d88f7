import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { ROOT } from "../helpers/spawn.js";

// An independent gRPC implementation (grpc-js + proto-loader from the .proto, no generated code).
const def = protoLoader.loadSync(path.join(ROOT, "proto/goldmane/api.proto"), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const goldmane = (grpc.loadPackageDefinition(def) as any).goldmane;

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer({}, 1_700_000_010);
});
afterAll(async () => {
  await ts.close();
});

describe("grpc-js client", () => {
  it("streams FlowUpdates to Connect, gets one receipt each, then lists them", async () => {
    const addr = `127.0.0.1:${ts.port}`;
    const collector = new goldmane.FlowCollector(addr, grpc.credentials.createInsecure());
    const call = collector.Connect();
    let receipts = 0;
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", () => receipts++);
      call.on("end", resolve);
      call.on("error", reject);
    });
    const start = 1_700_000_010 - 60;
    for (let i = 0; i < 20; i++) {
      call.write({
        flow: {
          Key: {
            source_name: "src-*",
            source_namespace: "ns1",
            source_type: "WorkloadEndpoint",
            dest_name: `dst-${i % 4}-*`,
            dest_namespace: "ns2",
            dest_type: "WorkloadEndpoint",
            dest_port: 443,
            proto: "tcp",
            reporter: "Dst",
            action: "Allow",
            policies: { enforced_policies: [{ kind: "NetworkPolicy", namespace: "ns2", name: "np", tier: "default", action: "Allow", policy_index: 0, rule_index: 1 }] },
          },
          start_time: start,
          end_time: start + i, // distinct emissions: none is a duplicate
          source_labels: ["a=b"],
          packets_in: 1,
          bytes_in: 10,
        },
      });
    }
    call.end();
    await done;
    expect(receipts).toBe(20);
    collector.close();

    const flows = new goldmane.Flows(addr, grpc.credentials.createInsecure());
    const res = await new Promise<any>((resolve, reject) =>
      flows.List({ sort_by: [{ sort_by: "DestName" }] }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
    );
    flows.close();
    expect(res.meta.totalResults).toBe("4");
    expect(res.flows.map((f: any) => f.flow.Key.dest_name)).toEqual(["dst-0-*", "dst-1-*", "dst-2-*", "dst-3-*"]);
    expect(res.flows[0].flow.packets_in).toBe("5");
    expect(res.flows[0].flow.Key.policies.enforced_policies[0].rule_index).toBe("1");
  });

  it("gets INVALID_ARGUMENT for a negative page", async () => {
    const flows = new goldmane.Flows(`127.0.0.1:${ts.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) => flows.List({ page: -1, page_size: 5 }, (e: grpc.ServiceError) => resolve(e)));
    flows.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain("page");
  });
});
