import * as http2 from "node:http2";
import { toBinary } from "@bufbuild/protobuf";
import { FlowUpdateSchema } from "../../src/gen/goldmane/api_pb.js";
import { grpcFrame } from "./raw-grpc.js";
import { wireUpdate } from "./wire-flows.js";

/**
 * Node agents that behave like Felix (issue 14): each holds one HTTP/2 connection from its own
 * loopback source address (127.0.x.y, so each is a distinct reporting node), sends one
 * FlowUpdate, waits for its receipt, then sends the next. When a call ends without OK (the
 * replica died, the log is unavailable) it reconnects — to the next target, round robin — and
 * replays every update it already got a receipt for before going on, as Felix replays its
 * recent flows after a reconnect. It stops once every update has a receipt.
 */
export interface FelixAgent {
  readonly id: number;
  readonly localAddress: string;
  /** Whether update i has been receipted (at least once). */
  readonly receipted: boolean[];
  /** Calls that ended without OK, and replays sent. */
  readonly failures: number;
  readonly replays: number;
  /** Milliseconds from sending an update to its receipt, for every receipt. */
  readonly latenciesMs: number[];
  /** Runs until every update is receipted or `stop()` is called. */
  run(): Promise<void>;
  stop(): void;
}

/** The loopback source address of agent `i` (127.0.x.y, never 127.0.0.1). */
export function agentAddress(i: number): string {
  const n = i + 2;
  return `127.0.${(n >> 8) & 0xff}.${n & 0xff}`;
}

/** gRPC frames of `count` distinct updates of agent `id`, all starting at `startSec`. */
export function agentFrames(id: number, count: number, startSec: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const u = wireUpdate(startSec, { sourceName: `agent-${id}`, destPort: BigInt(1000 + i) }, { packetsIn: 1n, packetsOut: 1n, bytesIn: 10n, bytesOut: 20n });
    out.push(grpcFrame(toBinary(FlowUpdateSchema, u)));
  }
  return out;
}

export interface FelixAgentOptions {
  id: number;
  frames: Buffer[];
  /** Base URLs (http://127.0.0.1:port) of the replicas the agent may connect to. */
  targets: string[];
  /** Pause before a reconnect (ms). */
  retryMs?: number;
  /** Replay receipted updates after a reconnect (default true). */
  replay?: boolean;
  /** Keep sending the whole set again and again until stopped (load generation). */
  loop?: boolean;
}

export function felixAgent(o: FelixAgentOptions): FelixAgent {
  const localAddress = agentAddress(o.id);
  const receipted = o.frames.map(() => false);
  const latenciesMs: number[] = [];
  let failures = 0;
  let replays = 0;
  let stopped = false;
  let targetIdx = o.id % o.targets.length;
  let current: { session: http2.ClientHttp2Session } | undefined;

  const oneCall = (target: string, queue: number[], replayCount: number): Promise<boolean> =>
    new Promise((resolve) => {
      let done = false;
      const session = http2.connect(target, { localAddress } as http2.SecureClientSessionOptions);
      current = { session };
      session.on("error", () => undefined);
      const req = session.request({ ":method": "POST", ":path": "/goldmane.FlowCollector/Connect", "content-type": "application/grpc", te: "trailers" });
      let status: string | undefined;
      let cur = 0;
      let bytes = 0;
      let sentAt = 0;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        session.destroy();
        resolve(ok);
      };
      const sendNext = () => {
        if (stopped) {
          req.end();
          return;
        }
        if (cur >= queue.length) {
          if (o.loop) {
            cur = 0;
          } else {
            req.end();
            return;
          }
        }
        sentAt = performance.now();
        req.write(o.frames[queue[cur]!]!);
      };
      req.on("response", (h) => {
        if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      });
      req.on("trailers", (t) => {
        if (t["grpc-status"] !== undefined) status = String(t["grpc-status"]);
      });
      req.on("data", (d: Buffer) => {
        bytes += d.length;
        while (bytes >= 5) {
          bytes -= 5;
          latenciesMs.push(performance.now() - sentAt);
          receipted[queue[cur]!] = true;
          if (cur < replayCount) replays++;
          cur++;
          sendNext();
        }
      });
      req.on("error", () => undefined);
      req.on("close", () => finish(status === "0" && (stopped || cur >= queue.length)));
      session.on("close", () => finish(false));
      sendNext();
    });

  return {
    id: o.id,
    localAddress,
    receipted,
    latenciesMs,
    get failures() {
      return failures;
    },
    get replays() {
      return replays;
    },
    async run() {
      let first = true;
      while (!stopped) {
        const replayed = first || o.replay === false ? [] : receipted.flatMap((r, i) => (r ? [i] : []));
        const rest = receipted.flatMap((r, i) => (r ? [] : [i]));
        if (rest.length === 0 && !o.loop) return;
        const ok = await oneCall(o.targets[targetIdx % o.targets.length]!, [...replayed, ...rest], replayed.length);
        first = false;
        if (ok && !o.loop) {
          if (receipted.every((r) => r)) return;
          continue;
        }
        failures++;
        targetIdx++;
        await new Promise((r) => setTimeout(r, o.retryMs ?? 200));
      }
    },
    stop() {
      stopped = true;
      current?.session.destroy();
    },
  };
}
