import type { Step } from '../web/context.js';

/**
 * Wraps the forward-auth pipeline so that its answer, 200 or error, carries at most one
 * Set-Cookie per cookie name: the last one written. A request may write the same cookie twice
 * (a cookie session slides its idle timeout on load, then a refresh re-seals it; or it is slid,
 * then cleared when the IdP rejects the refresh). A browser applies them in order, but a gateway
 * may pass on only one (nginx's `$upstream_http_set_cookie` is the first): it must be the last.
 */
export const oneSetCookiePerName: Step = async (ctx, next) => {
  try {
    await next();
  } finally {
    const written = ctx.response.get('Set-Cookie') as unknown;
    if (Array.isArray(written) && written.length > 1 && !ctx.headerSent) ctx.set('Set-Cookie', lastPerName(written as string[]));
  }
};

/** The last Set-Cookie value of each cookie name, in the order of those last writes. */
export function lastPerName(values: readonly string[]): string[] {
  const last = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = (eq === -1 ? value : value.slice(0, eq)).trim();
    last.delete(name);
    last.set(name, value);
  }
  return [...last.values()];
}
