import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

/** Limits of the public listener: 431 above 16 KB of headers, and slow clients are cut off. */
export const SERVER_LIMITS = {
  maxHeaderSize: 16 * 1024,
  headersTimeout: 20_000,
  // A whole request (headers and body) must arrive within 5 minutes: a slow drip cannot hold a
  // socket and an upstream connection forever.
  requestTimeout: 300_000,
  keepAliveTimeout: 65_000,
} as const;

export interface Listening {
  server: http.Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  drain(graceMs: number): Promise<void>;
}

/** What the HTTP parser refused before any middleware ran (oversized headers, slow or garbled requests). */
export type ClientErrorHook = (status: number) => void;

export async function listen(app: Koa<never> | Koa, host: string, port: number, onClientError?: ClientErrorHook): Promise<Listening> {
  const server = http.createServer({ maxHeaderSize: SERVER_LIMITS.maxHeaderSize }, app.callback());
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    onClientError?.(status);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // What Node would answer by itself, made explicit now that we listen for the event.
    const reason = http.STATUS_CODES[status] ?? 'Bad Request';
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  server.headersTimeout = SERVER_LIMITS.headersTimeout;
  server.requestTimeout = SERVER_LIMITS.requestTimeout;
  server.keepAliveTimeout = SERVER_LIMITS.keepAliveTimeout;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    drain: (graceMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
