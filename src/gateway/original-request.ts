import type { BffContext } from '../web/context.js';
import { oneLine } from '../observability/logger.js';

/** Methods that change nothing (RFC 9110 §9.2.1); any other needs the anti-CSRF header. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The request a gateway asks the forward-auth endpoint about. */
export interface OriginalRequest {
  /** The method the gateway names, or this request's own. */
  method: string;
  /** Its path without the query (which may carry secrets), bounded, for the log; '' when unknown. */
  path: string;
  /** Its whole path without the query, as the gateway sent it (still percent-encoded): what picks the API route. */
  target: string;
  /** Every method named by the gateway or used by this request, upper case. */
  methods: string[];
  /** True when any method named by the gateway or used by this request is unsafe. */
  unsafe: boolean;
}

/**
 * What the gateway says about the request it is authorizing: nginx sends `X-Original-Method` and
 * `X-Original-URI` (its auth_request subrequest is always a GET), Traefik `X-Forwarded-Method`
 * and `X-Forwarded-Uri` (its own request is a GET), Envoy's ext_authz repeats the original method
 * and appends the original path to the endpoint's (`basePath`).
 *
 * The request counts as unsafe when any of those methods is: a header that a browser slips
 * through a lax gateway can add the anti-CSRF requirement, never waive it.
 */
export function originalRequest(ctx: BffContext, basePath: string): OriginalRequest {
  const named = [ctx.get('x-original-method'), ctx.get('x-forwarded-method')].map((m) => m.trim().toUpperCase()).filter(Boolean);
  const methods = [...named, ctx.method.toUpperCase()];
  const uri = ctx.get('x-original-uri') || ctx.get('x-forwarded-uri') || ctx.path.slice(basePath.length);
  const end = uri.search(/[?#]/);
  const target = end === -1 ? uri : uri.slice(0, end);
  return {
    method: methods[0] ?? ctx.method,
    path: oneLine(target, 200),
    target,
    methods,
    unsafe: methods.some((m) => !SAFE_METHODS.has(m)),
  };
}
