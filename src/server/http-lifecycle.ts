import type * as http from "node:http";
import type { AddressInfo } from "node:net";

/** Listen/close for a plain side port (health, metrics): bound address out, all sockets closed on close. */
export function httpLifecycle(server: http.Server, host: string, port: number) {
  return {
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: host || undefined, port }, () => resolve(server.address() as AddressInfo));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
