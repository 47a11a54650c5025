import { Pool, type Dispatcher } from 'undici';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Step } from '../http/context.js';
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

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const BODYLESS_STATUS = new Set([204, 304]);
// `expect` is refused by undici and handled by Node's server itself; the rest are ours alone.
const DROP = [CSRF_HEADER, 'expect'] as const;

/**
 * Last step of /api/*: forwards the request to API_UPSTREAM with the session's access token,
 * streaming bodies both ways through a keep-alive pool. The response is written straight to
 * the socket (not through Koa's body handling) so that a client hanging up mid-response only
 * ends that stream, never the process.
 */
export function createForwarder(config: Config, cookies: CookieNames, log: EventLogger, metrics?: Metrics, tracing?: Tracing): Forwarder {
  const upstream = config.api.upstream;
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const prefixLength = config.paths.api.length;
  const pool = new Pool(upstream.origin, {
    connections: 256,
    keepAliveTimeout: 30_000,
    headersTimeout: config.api.timeoutMs,
    bodyTimeout: config.api.timeoutMs,
    connectTimeout: Math.min(config.api.timeoutMs, 10_000),
  });
  const forwardedProto = config.publicUrl.protocol === 'https:' ? 'https' : 'http';
  const forwardedHost = config.publicUrl.host;
  const trustProxy = config.server.proxyHops > 0;
  const { maxBodyBytes, maxConcurrency } = config.api;
  let inFlight = 0;

  const step: Step = async (ctx) => {
    if (inFlight >= maxConcurrency) throw new BffError('upstream_busy', { detail: `${inFlight} upstream requests in flight` });
    inFlight++;
    try {
      await forward(ctx);
    } finally {
      inFlight--;
    }
  };

  const forward = async (ctx: Parameters<Step>[0]): Promise<void> => {
    const session = ctx.state.session!;
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
    headers['authorization'] = `Bearer ${session.tokens.accessToken}`;
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
    let response: Dispatcher.ResponseData;
    const started = performance.now();
    try {
      response = await pool.request({
        method: ctx.method as Dispatcher.HttpMethod,
        path: q === -1 ? path : path + raw.slice(q),
        headers,
        body,
        signal: abort.signal,
      });
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
    res.writeHead(statusCode, clientResponseHeaders(response.headers, cookies.isOwn));
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
