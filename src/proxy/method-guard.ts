import { BffError } from '../errors/bff-error.js';
import type { Step } from '../web/context.js';

/**
 * Methods never forwarded with a token: TRACE and TRACK make the upstream (or anything in front
 * of it) echo the request back, `Authorization` included (cross-site tracing); CONNECT asks for
 * a tunnel. Node parses TRACE as an ordinary request, so the proxy must refuse it itself.
 */
const REFUSED: ReadonlySet<string> = new Set(['TRACE', 'TRACK', 'CONNECT']);

/** The methods a 405 names in `Allow` (RFC 9110 15.5.6): the usual API methods. */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** True for a method that must never reach an upstream. */
export const isRefusedMethod = (method: string): boolean => REFUSED.has(method.toUpperCase());

/** First step under API_PATH: 405 `method_not_allowed` for TRACE, TRACK and CONNECT, before any session work. */
export const refuseEchoMethods: Step = (ctx, next) => {
  if (!isRefusedMethod(ctx.method)) return next();
  ctx.set('Allow', ALLOWED_METHODS);
  throw new BffError('method_not_allowed', { event: 'proxy.method_refused', detail: `${ctx.method} is never forwarded` });
};
