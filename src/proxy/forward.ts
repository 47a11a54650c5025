import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { ApiRoute } from '../config/api-routes.js';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { BffContext, Step } from '../web/context.js';
import { clientKey } from '../web/address-match.js';
import type { EventLogger } from '../observability/logger.js';
import { errorFields } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/otel.js';
import type { CookieNames } from '../session/cookie-names.js';
import { upstreamProof, type DpopKey } from '../tokens/dpop.js';
import type { ConcurrencyGate } from './concurrency-gate.js';
import { CSRF_HEADER } from './csrf.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { clientBodyError, requestBody } from './request-body.js';
import { streamResponse } from './stream-response.js';
import { createUpstreamClient, UpstreamTimeoutError, type UpstreamCall } from './upstream-client.js';
import { checkUpstreamPath } from './upstream-path.js';

export interface Forwarder {
  step: Step;
  close(): Promise<void>;
}

/** What the token step of a route decided the upstream gets; absent = no Authorization at all. */
export interface UpstreamAuth {
  readonly token: string;
  /** The token is DPoP-bound: sent as `Authorization: DPoP` with a proof signed by this key. */
  readonly dpop: DpopKey | undefined;
}

export interface ForwarderDeps {
  config: Config;
  cookies: CookieNames;
  log: EventLogger;
  /** The instance's slots (API_MAX_CONCURRENCY…). */
  gate: ConcurrencyGate;
  /** This route's slots: its share of the instance, and each client's share of its pool. */
  routeGate: ConcurrencyGate;
  metrics?: Metrics | undefined;
  tracing?: Tracing | undefined;
  /** Runs just before the response headers go out (the refresher's carryNewest). */
  beforeResponse?: ((ctx: BffContext) => void) | undefined;
}

const BODYLESS_STATUS = new Set([204, 304]);
// `expect` was answered by Node's server itself (100-continue); the rest are ours alone.
const DROP = [CSRF_HEADER, 'expect'] as const;

/**
 * Last step of an API route: forwards the request to the route's upstream with the token the
 * route's policy chose (ctx.state.upstreamAuth), streaming bodies both ways through a
 * keep-alive pool of its own. The response is written straight to the socket (not through
 * Koa's body handling) so that a client hanging up mid-response only ends that stream, never
 * the process.
 */
export function createForwarder(route: ApiRoute, { config, cookies, log, gate, routeGate, metrics, tracing, beforeResponse }: ForwarderDeps): Forwarder {
  const { upstream, timeoutMs, maxBodyBytes } = route;
  const { bodyIdleTimeoutMs, writeIdleTimeoutMs } = config.api;
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const prefixLength = route.path.length;
  const client = createUpstreamClient(upstream, { timeoutMs, connections: config.api.upstreamConnections });
  const forwardedProto = config.publicUrl.protocol === 'https:' ? 'https' : 'http';
  const forwardedHost = config.publicUrl.host;
  // The resource server's latest DPoP nonce (RFC 9449 9): sent in every following proof.
  let dpopNonce: string | undefined;

  const step: Step = async (ctx) => {
    // A signed-in user counts as one client whatever sessions or addresses they use (logging in
    // again does not buy more slots); anonymous calls count per address (TRUST_PROXY must be right).
    const owner = ctx.state.session ? `u:${ctx.state.session.sub}` : `a:${clientKey(ctx.ip)}`;
    routeGate.enter(owner);
    try {
      gate.enter(owner);
    } catch (err) {
      routeGate.leave(owner);
      throw err;
    }
    try {
      await forward(ctx);
    } finally {
      gate.leave(owner);
      routeGate.leave(owner);
    }
  };

  /** Starts the upstream call; `calls.current` is what a client hang-up must abort. */
  const send = (ctx: BffContext, path: string, headers: Record<string, string | string[]>, body: Readable | null, calls: { current?: UpstreamCall }) => {
    const auth = ctx.state.upstreamAuth;
    if (auth?.dpop) return sendWithProof(ctx, auth.token, auth.dpop, path, headers, body, calls);
    if (auth) headers['authorization'] = `Bearer ${auth.token}`;
    // A Bearer call needs no await of its own before the request goes out (the hot path).
    return start(ctx, path, headers, body, calls);
  };

  const sendWithProof = async (
    ctx: BffContext,
    token: string,
    key: DpopKey,
    path: string,
    headers: Record<string, string | string[]>,
    body: Readable | null,
    calls: { current?: UpstreamCall },
  ) => {
    headers['authorization'] = `DPoP ${token}`;
    headers['dpop'] = await upstreamProof(key, ctx.method, new URL(path, upstream), token, dpopNonce);
    const response = await start(ctx, path, headers, body, calls);
    const nonce = response.headers['dpop-nonce'];
    if (typeof nonce === 'string') dpopNonce = nonce;
    return response;
  };

  const start = (ctx: BffContext, path: string, headers: Record<string, string | string[]>, body: Readable | null, calls: { current?: UpstreamCall }) => {
    // The client may have hung up while this request waited (session, refresh, token, proof).
    if (ctx.res.destroyed) return Promise.reject(new ClientGoneError());
    const call = client.call({ method: ctx.method, path, headers, body });
    calls.current = call;
    return call.response;
  };

  const forward = async (ctx: BffContext): Promise<void> => {
    const raw = ctx.req.url ?? '';
    // Only origin-form targets (/path?query): an absolute-form one would be sliced wrongly below.
    if (!raw.startsWith('/')) throw new BffError('invalid_request', { detail: 'request target is not in origin form' });
    const q = raw.indexOf('?');
    const rest = checkUpstreamPath(q === -1 ? raw.slice(prefixLength) : raw.slice(prefixLength, q));
    if (rest === null) throw new BffError('invalid_path', { event: 'proxy.path_refused', detail: 'path leaves the upstream base after decoding' });
    const path = `${basePath}${rest}` || '/';

    const headers = upstreamRequestHeaders(ctx.req.headers, {
      isOwnCookie: cookies.isOwn,
      dropHeaders: DROP,
      forwarded: { for: ctx.ip, proto: forwardedProto, host: forwardedHost },
      trustProxy: ctx.state.viaProxy === true,
      requestId: ctx.state.requestId,
    });
    const body = requestBody(ctx.req, maxBodyBytes, bodyIdleTimeoutMs);

    // A client that hangs up before the upstream answers frees the upstream connection too.
    const calls: { current?: UpstreamCall } = {};
    let clientGone = false;
    const onClose = () => {
      if (ctx.res.writableFinished) return;
      clientGone = true;
      calls.current?.abort();
    };
    ctx.res.on('close', onClose);
    if (ctx.res.destroyed) clientGone = true; // it closed before anyone listened
    // With tracing on, a span until the response headers; the upstream gets its traceparent.
    const span = tracing?.httpCall('upstream', ctx.method, upstream);
    if (span) headers['traceparent'] = span.traceparent;
    const target = q === -1 ? path : path + raw.slice(q);
    let response: IncomingMessage;
    const started = performance.now();
    try {
      response = await send(ctx, target, headers, body, calls);
      // A resource server that demands a fresh nonce gets one retry, when there is no body to replay.
      if (body === null && needsDpopNonce(response, ctx.state.upstreamAuth)) {
        await drain(response);
        response = await send(ctx, target, headers, null, calls);
      }
    } catch (err) {
      span?.end(undefined, err);
      ctx.res.off('close', onClose);
      // The client's doing (a body too large or stalled, a hang-up) is not an upstream failure.
      const bodyError = clientBodyError(err);
      if (bodyError) {
        // The rest of the body is unread (or still on its way): close the connection after the 413/408.
        ctx.set('Connection', 'close');
        throw bodyError;
      }
      if (clientGone || err instanceof ClientGoneError) {
        ctx.state.clientClosed = true;
        log.event('proxy.client_aborted', { request_id: ctx.state.requestId, path: ctx.path });
        return;
      }
      metrics?.dependency('upstream', ctx.method, (performance.now() - started) / 1000, false);
      throw upstreamError(err);
    }
    ctx.res.off('close', onClose);
    const statusCode = response.statusCode ?? 502;
    metrics?.dependency('upstream', ctx.method, (performance.now() - started) / 1000, statusCode < 500);
    span?.end(statusCode);

    ctx.status = statusCode;
    const res = ctx.res;
    try {
      beforeResponse?.(ctx);
      const out = withOwnCookies(clientResponseHeaders(response.headers, cookies.isOwn), res.getHeader('set-cookie'));
      if (statusCode === 204) delete out['content-length']; // RFC 9110 8.6: never on a 204
      // The id this request was logged under, never the upstream's (request-context.ts leaves it to us).
      out['x-request-id'] = ctx.state.requestId;
      res.writeHead(statusCode, out);
    } catch (err) {
      response.destroy(); // the upstream connection must not wait for its timeout
      // Nothing went out: Koa still sends the error's answer (with respond off the client would wait for nothing).
      throw err;
    }
    // The answer is ours to write from here on: Koa must not send one of its own.
    ctx.respond = false;
    if (ctx.method === 'HEAD' || BODYLESS_STATUS.has(statusCode)) {
      res.end();
      await drain(response);
      return;
    }
    const outcome = await streamResponse(response, res, writeIdleTimeoutMs);
    if (outcome.ok) return;
    // Headers are gone already: all that is left is to say what happened, and whose doing it was.
    if (outcome.slowReader) {
      log.event('proxy.client_slow_reader', {
        request_id: ctx.state.requestId,
        path: ctx.path,
        reason: `the client read nothing for ${writeIdleTimeoutMs} ms`,
        client: ctx.ip,
      });
    } else if (outcome.clientGone) {
      log.event('proxy.client_aborted', { request_id: ctx.state.requestId, path: ctx.path });
    } else {
      log.event('proxy.upstream_unreachable', { request_id: ctx.state.requestId, reason: 'response body failed', err: errorFields(outcome.error, false) });
    }
  };

  return { step, close: async () => client.close() };
}

/** The client hung up before the upstream call started. */
class ClientGoneError extends Error {}

/**
 * writeHead's headers replace those set before with the same name: the BFF's own Set-Cookie
 * (a refreshed cookie session) would be lost whenever the upstream sets a cookie too.
 */
function withOwnCookies(headers: Record<string, string | string[]>, own: number | string | string[] | undefined): Record<string, string | string[]> {
  const upstream = headers['set-cookie'];
  if (upstream === undefined || own === undefined) return headers;
  headers['set-cookie'] = [...(Array.isArray(own) ? own : [String(own)]), ...(Array.isArray(upstream) ? upstream : [upstream])];
  return headers;
}

/** RFC 9449 9: 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a DPoP-Nonce to use. */
function needsDpopNonce(response: IncomingMessage, auth: UpstreamAuth | undefined): boolean {
  if (!auth?.dpop || response.statusCode !== 401 || typeof response.headers['dpop-nonce'] !== 'string') return false;
  const challenge = response.headers['www-authenticate'];
  return /error="?use_dpop_nonce"?/.test(Array.isArray(challenge) ? challenge.join(',') : (challenge ?? ''));
}

function upstreamError(err: unknown): BffError {
  if (err instanceof UpstreamTimeoutError) {
    return new BffError('upstream_timeout', { event: 'proxy.upstream_timeout', detail: err.message, cause: err });
  }
  const code = (err as { code?: unknown }).code;
  // The client's body did not match its Content-Length, or an invalid path or header value: bad input.
  if (code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' || code === 'ERR_UNESCAPED_CHARACTERS' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_HTTP_TOKEN') {
    return new BffError('invalid_request', { detail: `request: ${String(code)}`, cause: err });
  }
  return new BffError('upstream_unreachable', { event: 'proxy.upstream_unreachable', detail: typeof code === 'string' ? code : 'request failed', cause: err });
}

/**
 * Reads and discards a response body (so that its connection can serve the next request). Also a
 * complete one (HEAD, 204, 304): Node gives the connection back to the pool only at the
 * response's 'end', which an unread response never emits, so each held a pooled connection
 * until the upstream closed it.
 */
function drain(response: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (response.destroyed || response.readableEnded) return resolve();
    response
      .once('end', resolve)
      .once('error', () => resolve())
      .once('close', () => resolve());
    response.resume();
  });
}

declare module '../web/context.js' {
  interface BffState {
    /** Set by an API route's token step: what the upstream receives in Authorization. */
    upstreamAuth?: UpstreamAuth;
  }
}
