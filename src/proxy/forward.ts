import { Pool, type Dispatcher } from 'undici';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Readable } from 'node:stream';
import type { ApiRoute } from '../config/api-routes.js';
import type { BffContext, Step } from '../http/context.js';
import { upstreamProof, type DpopKey } from '../tokens/dpop.js';
import type { EventLogger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/otel.js';
import { errorFields } from '../observability/logger.js';
import type { CookieNames } from '../session/cookie-names.js';
import { CSRF_HEADER } from './csrf.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { bodyLimitError, requestBody } from './request-body.js';
import { streamResponse } from './stream-response.js';
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

/** Upstream requests in flight across every route of this instance (API_MAX_CONCURRENCY). */
export interface ConcurrencyGate {
  inFlight: number;
  readonly max: number;
}

export interface ForwarderDeps {
  config: Config;
  cookies: CookieNames;
  log: EventLogger;
  gate: ConcurrencyGate;
  metrics?: Metrics | undefined;
  tracing?: Tracing | undefined;
  /** Runs just before the response headers go out (the refresher's carryNewest). */
  beforeResponse?: ((ctx: BffContext) => void) | undefined;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const BODYLESS_STATUS = new Set([204, 304]);
// `expect` is refused by undici and handled by Node's server itself; the rest are ours alone.
const DROP = [CSRF_HEADER, 'expect'] as const;

/**
 * Last step of an API route: forwards the request to the route's upstream with the token the
 * route's policy chose (ctx.state.upstreamAuth), streaming bodies both ways through a
 * keep-alive pool of its own. The response is written straight to the socket (not through
 * Koa's body handling) so that a client hanging up mid-response only ends that stream, never
 * the process.
 */
export function createForwarder(route: ApiRoute, { config, cookies, log, gate, metrics, tracing, beforeResponse }: ForwarderDeps): Forwarder {
  const { upstream, timeoutMs, maxBodyBytes } = route;
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const prefixLength = route.path.length;
  const pool = new Pool(upstream.origin, {
    connections: 256,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: Math.min(timeoutMs, 10_000),
  });
  const forwardedProto = config.publicUrl.protocol === 'https:' ? 'https' : 'http';
  const forwardedHost = config.publicUrl.host;
  const trustProxy = config.server.proxyHops > 0;
  // The resource server's latest DPoP nonce (RFC 9449 9): sent in every following proof.
  let dpopNonce: string | undefined;

  const step: Step = async (ctx) => {
    if (gate.inFlight >= gate.max) throw new BffError('upstream_busy', { detail: `${gate.inFlight} upstream requests in flight` });
    gate.inFlight++;
    try {
      await forward(ctx);
    } finally {
      gate.inFlight--;
    }
  };

  const send = async (ctx: BffContext, path: string, headers: Record<string, string | string[]>, body: Readable | null, signal: AbortSignal) => {
    const auth = ctx.state.upstreamAuth;
    if (auth?.dpop) {
      headers['authorization'] = `DPoP ${auth.token}`;
      headers['dpop'] = await upstreamProof(auth.dpop, ctx.method, new URL(path, upstream), auth.token, dpopNonce);
    } else if (auth) {
      headers['authorization'] = `Bearer ${auth.token}`;
    }
    const response = await pool.request({ method: ctx.method as Dispatcher.HttpMethod, path, headers, body, signal });
    const nonce = response.headers['dpop-nonce'];
    if (auth?.dpop && typeof nonce === 'string') dpopNonce = nonce;
    return response;
  };

  const forward = async (ctx: BffContext): Promise<void> => {
    const raw = ctx.req.url ?? '';
    const q = raw.indexOf('?');
    const rest = checkUpstreamPath(q === -1 ? raw.slice(prefixLength) : raw.slice(prefixLength, q));
    if (rest === null) throw new BffError('invalid_path', { event: 'proxy.path_refused', detail: 'path leaves the upstream base after decoding' });
    const path = `${basePath}${rest}` || '/';

    const headers = upstreamRequestHeaders(ctx.req.headers, {
      isOwnCookie: cookies.isOwn,
      dropHeaders: DROP,
      forwarded: { for: ctx.ip, proto: forwardedProto, host: forwardedHost },
      trustProxy,
      requestId: ctx.state.requestId,
    });
    const body = requestBody(ctx.req, maxBodyBytes);

    // A client that hangs up before the upstream answers frees the upstream connection too.
    const abort = new AbortController();
    const onClose = () => {
      if (!ctx.res.writableFinished) abort.abort();
    };
    ctx.res.once('close', onClose);
    // With tracing on, a span until the response headers; the upstream gets its traceparent.
    const span = tracing?.httpCall('upstream', ctx.method, upstream);
    if (span) headers['traceparent'] = span.traceparent;
    const target = q === -1 ? path : path + raw.slice(q);
    let response: Dispatcher.ResponseData;
    const started = performance.now();
    try {
      response = await send(ctx, target, headers, body, abort.signal);
      // A resource server that demands a fresh nonce gets one retry, when there is no body to replay.
      if (body === null && needsDpopNonce(response, ctx.state.upstreamAuth)) {
        await response.body.dump();
        response = await send(ctx, target, headers, null, abort.signal);
      }
    } catch (err) {
      metrics?.dependency('upstream', ctx.method, (performance.now() - started) / 1000, false);
      span?.end(undefined, err);
      ctx.res.off('close', onClose);
      const limit = bodyLimitError(err);
      if (limit) {
        // The rest of the body is still on its way: close the connection after the 413.
        ctx.set('Connection', 'close');
        throw limit;
      }
      if (abort.signal.aborted) {
        log.event('proxy.client_aborted', { request_id: ctx.state.requestId, path: ctx.path });
        return;
      }
      throw upstreamError(err);
    }
    ctx.res.off('close', onClose);
    metrics?.dependency('upstream', ctx.method, (performance.now() - started) / 1000, response.statusCode < 500);
    span?.end(response.statusCode);

    const { statusCode, body: responseBody } = response;
    ctx.status = statusCode;
    ctx.respond = false;
    const res = ctx.res;
    beforeResponse?.(ctx);
    res.writeHead(statusCode, withOwnCookies(clientResponseHeaders(response.headers, cookies.isOwn), res.getHeader('set-cookie')));
    if (ctx.method === 'HEAD' || BODYLESS_STATUS.has(statusCode)) {
      res.end();
      await responseBody.dump().catch(() => undefined);
      return;
    }
    const outcome = await streamResponse(responseBody, res);
    if (outcome.ok) return;
    // Headers are gone already: all that is left is to say what happened.
    if (outcome.clientGone) log.event('proxy.client_aborted', { request_id: ctx.state.requestId, path: ctx.path });
    else log.event('proxy.upstream_unreachable', { request_id: ctx.state.requestId, reason: 'response body failed', err: errorFields(outcome.error, false) });
  };

  return { step, close: () => pool.close() };
}

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
function needsDpopNonce(response: Dispatcher.ResponseData, auth: UpstreamAuth | undefined): boolean {
  if (!auth?.dpop || response.statusCode !== 401 || typeof response.headers['dpop-nonce'] !== 'string') return false;
  const challenge = response.headers['www-authenticate'];
  return /error="?use_dpop_nonce"?/.test(Array.isArray(challenge) ? challenge.join(',') : challenge ?? '');
}

function upstreamError(err: unknown): BffError {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new BffError('upstream_timeout', { event: 'proxy.upstream_timeout', detail: code, cause: err });
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_ABORTED') {
    return new BffError('invalid_request', { detail: `request body: ${code}`, cause: err });
  }
  return new BffError('upstream_unreachable', { event: 'proxy.upstream_unreachable', detail: typeof code === 'string' ? code : 'request failed', cause: err });
}
