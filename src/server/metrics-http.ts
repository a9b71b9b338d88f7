import * as http from "node:http";
import { httpLifecycle } from "./http-lifecycle.js";
import type { Registry } from "prom-client";

/** Serves the registry at GET /metrics in the Prometheus text format. */
export function createMetricsServer(host: string, port: number, registry: Registry) {
  const server = http.createServer((req, res) => {
    if ((req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(String(err.message)),
    );
  });
  return httpLifecycle(server, host, port);
}
