import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FlowKeySchema, FlowSchema, FlowUpdateSchema, type FlowUpdate } from "../../src/gen/goldmane/api_pb.js";

type FlowInit = Exclude<MessageInitShape<typeof FlowSchema>, { $typeName: string }>;
type KeyInit = Exclude<MessageInitShape<typeof FlowKeySchema>, { $typeName: string }>;

/** A wire FlowUpdate with realistic defaults; `key` and `flow` override fields. */
export function wireUpdate(startSec: number, key: Partial<KeyInit> = {}, flow: Partial<FlowInit> = {}): FlowUpdate {
  const Key = create(FlowKeySchema, {
    sourceName: "client-*",
    sourceNamespace: "default",
    sourceType: 1,
    destName: "server-*",
    destNamespace: "default",
    destType: 1,
    destPort: 8080n,
    proto: "tcp",
    reporter: 1,
    action: 1,
    policies: {
      enforcedPolicies: [{ kind: 1, namespace: "default", name: "allow-all", tier: "default", action: 1, policyIndex: 0n, ruleIndex: 0n }],
    },
    ...key,
  });
  const f = create(FlowSchema, {
    Key,
    startTime: BigInt(startSec),
    endTime: BigInt(startSec),
    sourceLabels: ["app=client"],
    destLabels: ["app=server"],
    packetsIn: 1n,
    packetsOut: 2n,
    bytesIn: 100n,
    bytesOut: 200n,
    numConnectionsStarted: 1n,
    numConnectionsCompleted: 0n,
    numConnectionsLive: 1n,
    ...flow,
  });
  return create(FlowUpdateSchema, { flow: f });
}
