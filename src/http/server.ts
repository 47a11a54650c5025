import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import { ALLOWED_METHODS } from '../proxy/method-guard.js';
import { OpenConnections } from './open-connections.js';
import { requestHandler } from './request-handler.js';

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

/**
 * The response being written on a connection, if any: node:http keeps it on the socket while
 * it is assigned (a pipelined request's response waits for its turn and is not assigned yet;
 * the response before it closes the connection, which ends it too).
 */
function inProgress(socket: Socket): http.ServerResponse | undefined {
  const current = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
  return current instanceof http.ServerResponse ? current : undefined;
}

/** What the HTTP parser refused before any middleware ran (oversized headers, slow or garbled requests). */
export type ClientErrorHook = (status: number) => void;

export async function listen(app: Koa<never> | Koa, host: string, port: number, onClientError?: ClientErrorHook): Promise<Listening> {
  const handle = requestHandler(app as Koa);
  // Requests reach Koa through this gate, so that a drain can answer one without running it.
  const server = http.createServer({ maxHeaderSize: SERVER_LIMITS.maxHeaderSize }, (req, res) => {
    if (draining && served.has(req.socket)) {
      // A further request on a kept-alive connection after SIGTERM is not run: 503 and close,
      // and the client retries on another instance (nothing was done, so that is safe).
      res.writeHead(503, { Connection: 'close', 'Content-Length': '0', 'Retry-After': '0' });
      res.end();
      return;
    }
    // Counted until the handler is done (its access-log line written), not only the connection.
    inHandlers++;
    handle(req, res).then(handlerDone, handlerDone);
  });
  // A count and one shared callback, not a Set entry and a closure per request (the hot path).
  let inHandlers = 0;
  let allHandlersDone: (() => void) | undefined;
  function handlerDone() {
    if (--inHandlers === 0) allHandlersDone?.();
  }
  let draining = false;
  // A response still to send its headers says Connection: close. One that announced keep-alive
  // already ends its connection once it is out; Node has detached it from the socket by then
  // (hence the socket passed along) and may have attached a pipelined response, which is told
  // the same in turn.
  const closeAfter = (res: http.ServerResponse, socket: Socket | null = res.socket) => {
    res.shouldKeepAlive = false;
    if (!res.headersSent) {
      res.setHeader('Connection', 'close');
      return;
    }
    res.once('finish', () => {
      if (!socket || socket.destroyed) return;
      const next = inProgress(socket);
      if (next) closeAfter(next, socket);
      else (socket as Socket & { destroySoon(): void }).destroySoon();
    });
  };
  // Connections, so that a drain finds the responses in progress on them. Not a Set of the
  // responses: with an entry added and deleted per request, what requests allocated outlived
  // V8's young generation once a full GC had run under load (see open-connections.ts and
  // bench/RESULTS.md, "The listener's Set").
  const sockets = new OpenConnections();
  server.on('connection', (socket: Socket) => sockets.add(socket));
  // A connection that has not sent a single byte (a browser's preconnect) holds nothing to finish.
  const closeSilent = () => {
    for (const socket of [...sockets]) if (socket.bytesRead === 0) socket.destroy();
  };
  // Connections that have had a request (a mark in a WeakSet: a property on the socket would give
  // node's sockets a second shape on its own hot paths).
  const served = new WeakSet<Socket>();
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (draining) {
      // A connection's first request, already on its way at SIGTERM, is still answered.
      if (!served.has(req.socket)) closeAfter(res);
      return;
    }
    served.add(req.socket);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    onClientError?.(status);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // Never write into a response in progress on this connection (pipelined garbage).
    if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    // What Node would answer by itself, made explicit now that we listen for the event.
    const reason = http.STATUS_CODES[status] ?? 'Bad Request';
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  // CONNECT asks for a tunnel, which this server never opens (Node would just drop the socket):
  // an explicit 405, as /api/* answers TRACE. Then the socket is closed for good: Node hands it
  // over with no timeout and half open, so a client that never closes its side would hold it
  // (and a drain) for as long as it likes.
  server.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
    // Node took its own error listener off the socket: a client resetting it now would make the
    // write below an uncaught error, and end the process.
    socket.on('error', () => socket.destroy());
    onClientError?.(405);
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\nAllow: ${ALLOWED_METHODS}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
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
        // Connections must not linger for the keep-alive timeout once their response is done:
        // every response from now on says Connection: close, and idle ones are swept.
        draining = true;
        const deadline = Date.now() + graceMs;
        for (const socket of [...sockets]) {
          const res = inProgress(socket);
          if (res) closeAfter(res, socket);
        }
        const sweep = setInterval(() => {
          server.closeIdleConnections();
          closeSilent();
        }, 50);
        // Past the grace, every connection goes: also one Node no longer counts as its own.
        const force = setTimeout(() => {
          server.closeAllConnections();
          for (const socket of [...sockets]) socket.destroy();
        }, graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          clearInterval(sweep);
          // A response can be out and its connection closed a moment before its handler has
          // finished (and logged): wait for the handlers too, within what is left of the grace.
          const cap = setTimeout(resolve, Math.max(0, deadline - Date.now()) + 100);
          allHandlersDone = () => {
            clearTimeout(cap);
            resolve();
          };
          if (inHandlers === 0) allHandlersDone();
        });
        server.closeIdleConnections();
        closeSilent();
      }),
  };
}
