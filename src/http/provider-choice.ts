import type { Config } from '../config/load.js';
import { readCookie } from '../web/cookies.js';
import type { Step } from '../web/context.js';
import { cookieNames } from '../session/cookie-names.js';
import { createViews } from './views.js';

/** One provider's unit of a frontend that offers several. */
export interface ProviderUnit {
  readonly config: Config;
  readonly step: Step;
}

/**
 * A frontend with several identity providers (BFF_CONFIG `providers`): one unit per provider,
 * each with its own client, session cookie, store keys and sealed values. `/login?idp=<id>`
 * starts a login at that provider; `/login` alone (or with an unknown id) shows the chooser;
 * each provider's callback, logout callback and back-channel path is its own; the gateway
 * introspection endpoint is the first provider's; every other request goes to the provider
 * whose session cookie it carries (the first, in the file's order, when it carries several),
 * else to the first provider (which answers it anonymously).
 */
export function providerChoice(units: readonly ProviderUnit[]): Step {
  const first = units[0]!;
  const loginPath = first.config.paths.login;
  const byIdp = new Map(units.map((u) => [u.config.frontend!.providerId, u.step]));
  const byPath = new Map<string, Step>();
  for (const u of units)
    for (const path of [u.config.paths.callback, u.config.paths.logoutCallback, u.config.paths.backchannelLogout]) byPath.set(path, u.step);
  // A gateway's handle introspection carries no user session: one unit answers it, whatever
  // cookie names the request carries. Each unit keeps its own store keys, so a unit chosen by
  // the caller would take a client assertion's jti (and count its rate limit) afresh.
  const introspection = first.config.gatewayIntrospection.path;
  if (introspection) for (const path of [introspection, `${introspection}/jwks`]) byPath.set(path, first.step);
  const sessions = units.map((u) => ({ cookie: cookieNames(u.config).session, step: u.step }));
  const views = createViews();

  return (ctx, next) => {
    const path = ctx.path;
    if (path === loginPath) {
      const idp = ctx.query['idp'];
      const chosen = typeof idp === 'string' ? byIdp.get(idp) : undefined;
      if (chosen) return chosen(ctx, next);
      const returnTo = typeof ctx.query['returnTo'] === 'string' ? `&returnTo=${encodeURIComponent(ctx.query['returnTo'])}` : '';
      ctx.status = idp === undefined ? 200 : 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Frame-Options', 'DENY');
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      ctx.type = 'html';
      ctx.body = views.chooserPage({
        providers: units.map(({ config }) => ({
          href: `${loginPath}?idp=${encodeURIComponent(config.frontend!.providerId)}${returnTo}`,
          name: config.frontend!.providerName,
          logoUrl: config.frontend!.providerLogoUrl,
        })),
      });
      return Promise.resolve();
    }
    const own = byPath.get(path);
    if (own) return own(ctx, next);
    const header = ctx.get('cookie');
    if (header) for (const s of sessions) if (readCookie(header, s.cookie) !== undefined) return s.step(ctx, next);
    return first.step(ctx, next);
  };
}
