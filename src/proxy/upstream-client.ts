import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** The upstream took too long: to free a pooled connection, to accept one, to take the upload, to answer, or between body chunks. */
export class UpstreamTimeoutError extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
  constructor(
    readonly phase: 'connection pool' | 'connect' | 'request body' | 'response headers' | 'response body',
    readonly timeoutMs: number,
  ) {
    super(`upstream ${phase} took longer than ${timeoutMs} ms`);
  }
}

/** The upstream ended the exchange without a usable response (it closed, or answered 101). */
export class UpstreamNoResponseError extends Error {
  readonly code = 'UPSTREAM_NO_RESPONSE';
}

export interface UpstreamCall {
  /** The response once its headers arrived; its body streams (and times out) on its own. */
  response: Promise<http.IncomingMessage>;
  /** Cancels the call (the client hung up): the connection is dropped, not reused. */
  abort(): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Readable | null;
}

export interface UpstreamClient {
  call(request: UpstreamRequest): UpstreamCall;
  close(): void;
}

// Idle keep-alive connections are closed before a Node upstream's default keepAliveTimeout (5 s)
// would close them under us. A request that still meets a connection the upstream closed is
// sent again once (`reusedSocket`, as Node's documentation recommends) only when that is safe:
// a safe method (RFC 9110 9.2.1) without a body, and without a single-use DPoP proof.
const IDLE_SOCKET_MS = 4_000;
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_CONNECT_MS = 10_000;

export interface UpstreamClientOptions {
  /** The route's timeout: from the call to the response headers (upload time excepted), and between body chunks. */
  timeoutMs: number;
  /** Connections in the pool (API_UPSTREAM_CONNECTIONS); further calls wait for one. */
  connections: number;
  /** An idle pooled connection is closed within this long (default 4 s, under a Node upstream's 5 s). */
  idleSocketMs?: number;
}

const IDLE_SINCE = Symbol('idle since');
type PooledSocket = Socket & { [IDLE_SINCE]?: number };

/**
 * node:http with a keep-alive Agent per upstream: on this hot path it costs about two thirds of
 * what undici's Pool.request does per call (bench: the bare node:http hop vs the undici hop).
 * Timeouts are the upstream's alone: one budget of `timeoutMs` from the call to the response
 * headers — waiting for a free pooled connection, connecting (at most 10 s) and waiting once
 * the request is fully sent all spend it, the client's upload does not — a gap of `timeoutMs`
 * in which the upstream takes none of an upload it was offered, and the gaps between response
 * body chunks while the client is reading. A slow client upload or a client that stops
 * reading is not blamed on the upstream.
 */
export function createUpstreamClient(origin: URL, { timeoutMs, connections, idleSocketMs = IDLE_SOCKET_MS }: UpstreamClientOptions): UpstreamClient {
  const secure = origin.protocol === 'https:';
  const agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'lifo' });
  // Idle pooled connections are swept by one coarse timer (closed after between 3/4 and all of
  // idleSocketMs idle), not by a socket timeout armed and cleared around every call.
  const sweepEvery = Math.max(1, Math.floor(idleSocketMs / 4));
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = () => {
    const before = performance.now() - (idleSocketMs - sweepEvery);
    let left = 0;
    for (const name in agent.freeSockets) {
      for (const socket of agent.freeSockets[name] ?? []) {
        if (((socket as PooledSocket)[IDLE_SINCE] ?? 0) <= before) socket.destroy();
        else left++;
      }
    }
    if (left === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  agent.on('free', (socket: PooledSocket) => {
    socket[IDLE_SINCE] = performance.now();
    sweeper ??= setInterval(sweep, sweepEvery).unref();
  });
  const send = secure ? https.request : http.request;
  const hostname = origin.hostname.replace(/^\[|\]$/g, '');
  const port = origin.port || (secure ? 443 : 80);
  const connectMs = Math.min(timeoutMs, MAX_CONNECT_MS);

  // Sent as given: Node's ClientRequest would otherwise copy every header through setHeader
  // (validated, lower-cased, stored) before serialising them all again. `host` is ours to set then.
  const hostHeader = origin.host;

  // `budgetMs`: what is left of the call's timeout: all of it, or for the one replay what the
  // first attempt left (the SPEC's one budget from the call to the response headers).
  const attempt = (
    r: UpstreamRequest,
    mayRetry: boolean,
    state: { current?: http.ClientRequest; aborted: boolean },
    budgetMs: number,
  ): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      let settled = false;
      // Until the Agent hands out a connection, the call waits for the pool: Node starts no
      // timer for that, and a destroyed queued request reports nothing until a socket frees.
      const queued = performance.now();
      let waitedMs = 0;
      let socketed = false;
      // One timer per call (the hot path starts no other): from the call for the pool wait and,
      // without a body to upload, on until the response headers, the whole budget in one. With
      // a body, it stops while the client uploads and restarts with what is left once it is sent.
      const expire = () => {
        if (!socketed) {
          const err = new UpstreamTimeoutError('connection pool', timeoutMs);
          fail(err);
          req.destroy(err);
        } else {
          req.destroy(new UpstreamTimeoutError('response headers', timeoutMs));
        }
      };
      let timer: NodeJS.Timeout | undefined = setTimeout(expire, budgetMs);
      // While the upstream takes none of the upload (the pipe holds the body paused exactly then),
      // the wait is the upstream's: the client's idle timer stops meanwhile, so this one runs.
      let uploadTimer: NodeJS.Timeout | undefined;
      const uploadStuck = () => {
        if (!settled) uploadTimer ??= setTimeout(() => req.destroy(new UpstreamTimeoutError('request body', timeoutMs)), timeoutMs);
      };
      const uploadMoving = () => {
        clearTimeout(uploadTimer);
        uploadTimer = undefined;
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        uploadMoving();
        reject(err);
      };
      const headers: string[] = ['host', hostHeader];
      for (const name in r.headers) {
        const value = r.headers[name]!;
        if (typeof value === 'string') headers.push(name, value);
        else for (const item of value) headers.push(name, item);
      }
      // A body of unknown length (the client's Transfer-Encoding is hop-by-hop, so not among the
      // headers) is framed as chunked: Node does so by itself only for methods other than GET,
      // HEAD, DELETE and OPTIONS, and sends theirs bare, for the upstream to read as the next
      // request on the pooled connection (request smuggling past every rule of the BFF).
      if (r.body !== null && !('content-length' in r.headers) && !('transfer-encoding' in r.headers)) headers.push('transfer-encoding', 'chunked');
      const req = send({ agent, hostname, port, method: r.method, path: r.path, headers: headers as unknown as http.OutgoingHttpHeaders }, (response) => {
        settled = true;
        clearTimeout(timer);
        uploadMoving();
        timeBody(response, timeoutMs);
        resolve(response);
      });
      state.current = req;
      if (state.aborted) req.destroy();
      // `on`, not `once`, for events a request emits once anyway: once wraps every listener in a
      // bound closure of its own, on every call.
      req.on('socket', (socket: Socket) => {
        socketed = true;
        waitedMs = performance.now() - queued;
        // The upload is the client's time: the budget waits for the request to be sent.
        if (r.body !== null) {
          clearTimeout(timer);
          timer = undefined;
          r.body.on('pause', uploadStuck).on('resume', uploadMoving);
          if (r.body.isPaused()) uploadStuck();
          req.once('finish', () => {
            // What the wait for a pooled connection spent is gone from the budget.
            if (!settled) timer = setTimeout(expire, Math.max(1, budgetMs - waitedMs));
          });
        }
        if (!socket.connecting) return;
        const left = Math.max(1, Math.min(connectMs, budgetMs - waitedMs));
        const connectTimer = setTimeout(() => req.destroy(new UpstreamTimeoutError('connect', connectMs)), left);
        socket.once('connect', () => clearTimeout(connectTimer)).once('close', () => clearTimeout(connectTimer));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const replay =
          mayRetry && !state.aborted && r.body === null && REPLAYABLE.has(r.method) && !('dpop' in r.headers) && req.reusedSocket && err.code === 'ECONNRESET';
        if (replay && !settled) {
          settled = true;
          clearTimeout(timer);
          attempt(r, false, state, Math.max(1, budgetMs - (performance.now() - queued))).then(resolve, reject);
        } else {
          fail(err);
        }
      });
      // Node answers neither the callback nor 'error' for a 101 it cannot upgrade: settle here.
      req.on('upgrade', (_res, socket: Socket) => {
        socket.destroy();
        fail(new UpstreamNoResponseError('the upstream switched protocols (101), which the API proxy does not carry'));
      });
      // 'close' follows every exchange; only one that ends before the response is a failure.
      req.on('close', () => {
        uploadMoving();
        r.body?.off('pause', uploadStuck).off('resume', uploadMoving);
        if (!settled) fail(new UpstreamNoResponseError('the upstream closed the connection without a response'));
      });
      if (r.body === null) {
        req.end();
      } else {
        r.body.once('error', (err) => req.destroy(err));
        r.body.pipe(req);
      }
    });

  return {
    call(request) {
      const state: { current?: http.ClientRequest; aborted: boolean } = { aborted: false };
      const response = attempt(request, true, state, timeoutMs);
      return {
        response,
        abort: () => {
          state.aborted = true;
          state.current?.destroy();
        },
      };
    },
    close: () => {
      clearInterval(sweeper);
      agent.destroy();
    },
  };
}

/**
 * Fails the response body when the upstream leaves a gap longer than `timeoutMs` between chunks,
 * but not while the body is paused because the client reads slowly (backpressure). Progress is
 * watched on the socket: a 'data' listener on the response would start it flowing before the
 * proxy pipes it, and lose chunks. Checked once the socket's data at hand is parsed: a body that
 * came whole with its headers (most API answers) has no gap to time, and gets no timer.
 */
function timeBody(response: http.IncomingMessage, timeoutMs: number): void {
  process.nextTick(watchBody, response, timeoutMs);
}

function watchBody(response: http.IncomingMessage, timeoutMs: number): void {
  if (response.complete || response.destroyed) return;
  const socket = response.socket;
  const fire = () => response.destroy(new UpstreamTimeoutError('response body', timeoutMs));
  // Paused already (its reader is slow): the timer starts when it flows again.
  let timer: NodeJS.Timeout | undefined = response.isPaused() ? undefined : setTimeout(fire, timeoutMs);
  const arm = () => {
    if (timer) timer.refresh();
    else timer = setTimeout(fire, timeoutMs);
  };
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  // Bytes still arrive after the reader paused the body (until its buffer is full): they must not
  // start the gap timer then, or a client that reads slowly for longer than the upstream's timeout
  // is cut as the upstream's fault, before API_WRITE_IDLE_TIMEOUT judges it as a slow reader.
  const progress = () => {
    if (!response.isPaused()) arm();
  };
  const done = () => {
    stop();
    socket.off('data', progress);
  };
  socket.on('data', progress);
  response.on('pause', stop);
  response.on('resume', arm);
  response.once('end', done).once('close', done);
}
