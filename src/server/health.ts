import * as http from "node:http";
import { httpLifecycle } from "./http-lifecycle.js";

/** A named health reporter (Goldmane's reporters: startup, aggregator, …; goldmane-spec §8.3). */
export interface HealthReporter {
  readonly name: string;
  live(): boolean;
  ready(): boolean;
}

/** Serves GET /liveness and GET /readiness: 200 with a text table when healthy, 503 otherwise. */
export function createHealthServer(host: string, port: number, reporters: readonly HealthReporter[]) {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    const check = path === "/liveness" ? "live" : path === "/readiness" ? "ready" : null;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (!check) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const lines = reporters.map((r) => ({ name: r.name, ok: r[check]() }));
    const ok = lines.every((l) => l.ok);
    res.writeHead(ok ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
    res.end(lines.map((l) => `${l.name.padEnd(12)} ${check === "live" ? "live" : "ready"}=${l.ok}`).join("\n") + "\n");
  });
  return httpLifecycle(server, host, port);
}
