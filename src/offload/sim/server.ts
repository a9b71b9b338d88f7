import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type * as tls from "node:tls";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Registry } from "prom-client";
import type { Logger } from "../../observability/logger.js";
import { createRpcListener, type DualHandler } from "../../server/listener.js";
import type { Clock } from "./clock.js";
import type { SimConfig } from "./config.js";
import { createOffloadDevice, type OffloadDevice } from "./device.js";
import { OpiSessionTable, opiSessionTableService } from "./opi-service.js";
import type { Random } from "./prng.js";
import { V1SessionTable, v1SessionTableService } from "./v1-service.js";

/** Where and how the emulator listens. */
export interface OffloadSimServerOptions {
  host: string;
  /** 0 = an ephemeral port (tests). */
  port: number;
  /** Certificate and key (PEM) for TLS; cleartext when absent. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Run the traffic model on a timer every tick. Off in tests that drive a manual clock: there
   * every RPC still brings the model up to the clock first.
   */
  autoTick: boolean;
  /** A separate plain-HTTP port for `/metrics`; undefined = none (`/metrics` is also on the RPC port). */
  metricsPort?: number;
}

/** Dependencies of {@link createOffloadSimServer}. */
export interface OffloadSimServerDeps {
  clock: Clock;
  registry: Registry;
  log: Logger;
  random?: Random;
}

/** The running emulator: one port for gRPC, gRPC-web and Connect in both dialects. */
export interface OffloadSimServer {
  readonly device: OffloadDevice;
  /** Binds the ports and starts the tick timer; resolves with the RPC address. */
  listen(): Promise<{ rpc: AddressInfo; metrics?: AddressInfo }>;
  /** Stops the timer, refuses new calls, lets in-flight ones finish (up to `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** Registers both dialects of SessionTable on a router (one device behind both). */
export function offloadSimRoutes(device: OffloadDevice) {
  return (router: ConnectRouter) => {
    router.service(OpiSessionTable, opiSessionTableService(device));
    router.service(V1SessionTable, v1SessionTableService(device));
  };
}

/**
 * Builds the device emulator server (DESIGN.md §6): the pure session table behind thin Connect
 * adapters for the OPI and openoffload.v1 dialects, on the shared one-port listener. `/metrics`
 * and `/healthz` are served on the same port for plain HTTP GETs.
 */
export function createOffloadSimServer(config: Readonly<SimConfig>, options: OffloadSimServerOptions, deps: OffloadSimServerDeps): OffloadSimServer {
  const log = deps.log.child({ module: "offload-sim" });
  const device = createOffloadDevice(config, { clock: deps.clock, registry: deps.registry, log, random: deps.random });
  const serveMetrics = (res: http.ServerResponse) => {
    deps.registry.metrics().then(
      (body) => {
        res.writeHead(200, { "content-type": deps.registry.contentType });
        res.end(body);
      },
      (err: unknown) => {
        log.error({ err }, "rendering metrics failed");
        res.writeHead(500);
        res.end();
      },
    );
  };
  const fallback: DualHandler = (req, res) => {
    const r = res as http.ServerResponse;
    if (req.method === "GET" && req.url === "/metrics") return serveMetrics(r);
    if (req.method === "GET" && req.url === "/healthz") {
      r.writeHead(200, { "content-type": "text/plain" });
      r.end("ok\n");
      return;
    }
    r.writeHead(404);
    r.end();
  };
  const handler = connectNodeAdapter({ routes: offloadSimRoutes(device), grpc: true, grpcWeb: true, connect: true, fallback: fallback as never });
  const tlsOptions: (tls.SecureContextOptions & tls.TlsOptions) | undefined = options.tls ? { cert: options.tls.cert, key: options.tls.key } : undefined;
  const listener = createRpcListener({ host: options.host, port: options.port, handler: handler as DualHandler, tls: tlsOptions });
  let metricsServer: http.Server | undefined;
  let timer: NodeJS.Timeout | undefined;

  return {
    device,
    async listen() {
      const rpc = await listener.listen();
      let metrics: AddressInfo | undefined;
      if (options.metricsPort !== undefined) {
        const server = http.createServer((req, res) => fallback(req, res));
        metricsServer = server;
        metrics = await new Promise<AddressInfo>((resolve, reject) => {
          server.once("error", reject);
          server.listen({ host: options.host || undefined, port: options.metricsPort }, () => resolve(server.address() as AddressInfo));
        });
      }
      if (options.autoTick) {
        timer = setInterval(() => device.sync(), config.traffic.tickMs);
        timer.unref();
      }
      return { rpc, metrics };
    },
    async close(graceMs = 5000) {
      if (timer) clearInterval(timer);
      const closing: Promise<void>[] = [listener.close(graceMs)];
      if (metricsServer) {
        const server = metricsServer;
        closing.push(new Promise((resolve) => server.close(() => resolve())));
        server.closeAllConnections();
      }
      await Promise.all(closing);
    },
  };
}
