import type { FusionAuthSdkConfig } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Step } from '../web/context.js';

/** What the SDK itself sends: simple requests, so a preflight only comes from an SPA's own additions. */
const SDK_PREFLIGHT = { methods: 'GET, POST', headers: 'Content-Type' };

/** The /api/* proxy, for an SPA on a listed origin: its methods, and the anti-CSRF header it must send. */
export const API_PREFLIGHT = { methods: 'GET, HEAD, POST, PUT, PATCH, DELETE', headers: 'Content-Type, X-CSRF' };

/**
 * CORS with credentials for the frontend's SPA origins only: the exact origin is echoed (never
 * `*`, never whatever came in, as the reference server does), with `Vary: Origin` so a cache
 * never serves one origin's answer to another. A request carrying any other Origin is refused
 * outright (403) rather than answered without the headers: a simple POST would otherwise still act.
 */
export function sdkCors(sdk: FusionAuthSdkConfig, preflight: { methods: string; headers: string } = SDK_PREFLIGHT): Step {
  const allowed = new Set(sdk.origins);
  return async (ctx, next) => {
    ctx.vary('Origin');
    const origin = ctx.get('origin');
    if (origin) {
      if (!allowed.has(origin)) throw new BffError('csrf', { event: 'fusionauth.origin_refused', detail: 'Origin not on FUSIONAUTH_SDK_ORIGINS' });
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
    }
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Methods', preflight.methods);
      ctx.set('Access-Control-Allow-Headers', preflight.headers);
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    await next();
  };
}

/**
 * For POST /app/refresh/, which the SDK sends with no custom header (text/plain, a "simple"
 * request the browser sends cross-site without asking): browsers always send Origin on a POST,
 * and sdkCors already refused a foreign one; without Origin, Sec-Fetch-Site must not say that
 * another site sent it. SameSite on the session cookie is the third layer.
 */
export const sameSiteOnly: Step = async (ctx, next) => {
  const site = ctx.get('sec-fetch-site');
  if (!ctx.get('origin') && (site === 'cross-site' || site === 'same-site')) {
    throw new BffError('csrf', { event: 'fusionauth.origin_refused', detail: `no Origin, Sec-Fetch-Site ${site}` });
  }
  await next();
};
