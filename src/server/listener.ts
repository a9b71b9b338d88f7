import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type * as tls from "node:tls";

/** A request handler usable by both `node:http` and `node:http2` servers. */
export type DualHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Options of {@link createRpcListener}. */
export interface RpcListenerOptions {
  host: string;
  port: number;
  handler: DualHandler;
  /**
   * TLS material. When set, one `http2.createSecureServer({ allowHTTP1: true })` serves HTTP/2 and
   * HTTP/1.1 by ALPN; when absent, a preface sniffer sends cleartext connections to an h2c or an
   * HTTP/1.1 server, because Node's `allowHTTP1` only works with TLS.
   */
  tls?: tls.SecureContextOptions & tls.TlsOptions;
  /**
   * Optional hook for a raw HTTP/2 stream handler that runs before the compatibility handler
   * (the ingest fast lane). Return true when the stream was taken.
   */
  onStream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
}

/** One listening port serving gRPC, gRPC-web and Connect over HTTP/2 and HTTP/1.1. */
export interface RpcListener {
  /** Starts listening; resolves with the bound address (use port 0 in tests). */
  listen(): Promise<AddressInfo>;
  /**
   * Stops accepting connections and lets in-flight calls finish. After `graceMs` the remaining
   * connections are destroyed. Resolves when every connection is gone.
   */
  close(graceMs: number): Promise<void>;
  /** Replaces the TLS certificate of a TLS listener (hot reload); no-op in cleartext. */
  setSecureContext(options: tls.SecureContextOptions): void;
  /** The underlying servers, for tests and diagnostics. */
  readonly h2: http2.Http2Server | http2.Http2SecureServer;
}

const H2_PREFACE_START = "PRI";

/**
 * Creates the single RPC port of DESIGN.md §2 (`server/`): HTTP/2 for gRPC and streaming Connect,
 * HTTP/1.1 for browsers and curl, both on one port.
 */
export function createRpcListener(options: RpcListenerOptions): RpcListener {
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  const h1Sockets = new Set<net.Socket>();
  let closing = false;

  const h2: http2.Http2Server | http2.Http2SecureServer = options.tls
    ? http2.createSecureServer({ ...options.tls, allowHTTP1: true }, ((req: never, res: never) => handler(req, res)) as never)
    : http2.createServer({}, ((req: never, res: never) => handler(req, res)) as never);
  if (options.onStream) {
    const onStream = options.onStream;
    // The compatibility layer registers its own "stream" listener; ours must run first and take
    // the stream away from it, so prepend and stop the others from seeing a taken stream.
    const compat = h2.listeners("stream");
    h2.removeAllListeners("stream");
    h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]) => {
      if (onStream(stream, headers)) return;
      for (const l of compat) (l as (...a: unknown[]) => void).call(h2, stream, headers, flags, raw);
    });
  }
  h2.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    if (closing) session.close();
  });

  // Requests in flight per HTTP/1.1 socket (cleartext or TLS), so close() can end keep-alive
  // connections as soon as they are idle. Node only tracks idle connections for servers that
  // accept their own sockets, and ours come from the sniffer or the secure server's fallback.
  const h1Busy = new Map<net.Socket, number>();
  const endIfIdle = (socket: net.Socket) => {
    if (closing && (h1Busy.get(socket) ?? 0) === 0) socket.end();
  };
  const trackH1 = (socket: net.Socket) => {
    if (h1Busy.has(socket)) return;
    h1Sockets.add(socket);
    h1Busy.set(socket, 0);
    socket.on("close", () => {
      h1Sockets.delete(socket);
      h1Busy.delete(socket);
    });
  };
  const handler: DualHandler = (req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as net.Socket;
      trackH1(socket);
      h1Busy.set(socket, (h1Busy.get(socket) ?? 0) + 1);
      if (closing) (res as http.ServerResponse).shouldKeepAlive = false;
      res.on("close", () => {
        h1Busy.set(socket, Math.max(0, (h1Busy.get(socket) ?? 1) - 1));
        endIfIdle(socket);
      });
    }
    options.handler(req, res);
  };

  const h1 = http.createServer(handler as http.RequestListener);
  h1.on("connection", trackH1);
  let front: net.Server;
  if (options.tls) {
    front = h2 as unknown as net.Server;
    // With allowHTTP1 an HTTP/1.1 request arrives on the secure server as a compat request; track
    // its socket so close() can end keep-alive connections.
    h2.on("secureConnection", (socket: net.Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
  } else {
    front = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      socket.once("data", (chunk: Buffer) => {
        socket.pause();
        socket.unshift(chunk);
        const isH2 = chunk.subarray(0, 3).toString("latin1") === H2_PREFACE_START;
        (isH2 ? h2 : h1).emit("connection", socket);
        process.nextTick(() => socket.resume());
      });
    });
  }

  return {
    h2,
    listen() {
      return new Promise((resolve, reject) => {
        front.once("error", reject);
        front.listen({ host: options.host || undefined, port: options.port }, () => {
          front.off("error", reject);
          resolve(front.address() as AddressInfo);
        });
      });
    },
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      // GOAWAY lets clients finish their streams and open new ones elsewhere.
      for (const s of sessions) s.close();
      for (const socket of h1Sockets) endIfIdle(socket);
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
        for (const s of h1Sockets) s.destroy();
        for (const s of sockets) s.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
    setSecureContext(ctx) {
      if (options.tls && "setSecureContext" in h2) (h2 as http2.Http2SecureServer).setSecureContext(ctx);
    },
  };
}
