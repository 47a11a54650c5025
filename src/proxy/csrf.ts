import { BffError } from '../errors/bff-error.js';
import type { Step } from '../web/context.js';

/** The anti-CSRF header: a custom header forces a CORS preflight, which a cross-site page cannot pass. */
export const CSRF_HEADER = 'x-csrf';

/**
 * Refuses requests that lack `X-CSRF: 1`, or that the browser marks as cross-site
 * (`Sec-Fetch-Site: cross-site`, or an Origin other than ours): 403 `csrf`.
 * `origins` are the only origins whose pages may call with credentials: the BFF's own, and those
 * a feature serves CORS to (the composition root lists them; see app.ts).
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html
 */
export function checkCsrf(origins: ReadonlySet<string>): Step {
  // Synchronous, and reading node's header object directly (what ctx.get reads, '' when absent):
  // this runs on every API call. A throw here becomes the pipeline's rejection (koa-compose).
  return (ctx, next) => {
    const h = ctx.req.headers;
    const reason = csrfProblem(headerValue(h[CSRF_HEADER]), headerValue(h.origin), headerValue(h['sec-fetch-site']), origins);
    if (reason) throw new BffError('csrf', { event: 'csrf.rejected', detail: reason });
    return next();
  };
}

/** A request header as Koa's ctx.get gives it: '' when absent. */
function headerValue(value: string | string[] | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : value.join(', ');
}

/** Pure check, '' when the request passes. */
export function csrfProblem(header: string, origin: string, fetchSite: string, origins: ReadonlySet<string>): string {
  if (header !== '1') return header ? 'anti-CSRF header has the wrong value' : 'anti-CSRF header missing';
  return crossSiteProblem(origin, fetchSite, origins);
}

/** The cross-site half of {@link csrfProblem}, for requests that need no anti-CSRF header (a safe method behind a gateway). */
export function crossSiteProblem(origin: string, fetchSite: string, origins: ReadonlySet<string>): string {
  if (fetchSite === 'cross-site') return 'Sec-Fetch-Site: cross-site';
  if (origin && !origins.has(origin)) return 'cross-origin Origin header';
  return '';
}
