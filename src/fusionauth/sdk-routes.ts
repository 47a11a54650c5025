import type { Config, FusionAuthSdkConfig } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { EventLogger } from '../observability/logger.js';
import type { Sessions } from '../session/session.js';
import type { BffContext, Step } from '../web/context.js';
import { logoutConfirmPage } from './confirm-page.js';
import { API_PREFLIGHT, sameSiteOnly, sdkCors } from './cors.js';
import { expiryCookie, withExpiryCookie } from './expiry-cookie.js';
import { allowedRedirect, checkClientId, sdkState } from './sdk-policy.js';

/**
 * The paths the SDKs call (their defaults, under an optional prefix), each also without the
 * trailing slash.
 */
const both = (path: string): string[] => [path, `${path}/`];
export function sdkPaths(prefix: string): Readonly<Record<'login' | 'register' | 'refresh' | 'me' | 'logout' | 'account', string[]>> {
  return {
    login: [...both(`${prefix}/app/login`), `${prefix}/app/login/:clientId`],
    register: [...both(`${prefix}/app/register`), `${prefix}/app/register/:clientId`],
    refresh: both(`${prefix}/app/refresh`),
    me: both(`${prefix}/app/me`),
    logout: both(`${prefix}/app/logout`),
    account: both(`${prefix}/account`),
  };
}

/** What the SDK routes add to login: where the callback ends, and register's parameters. */
export interface SdkLoginRequest {
  returnTo: string;
  params?: ReadonlyArray<readonly [string, string]>;
}

const param = (ctx: BffContext, name: string): unknown => (ctx as unknown as { params?: Record<string, string> }).params?.[name];

/**
 * The hosted-backend contract of FusionAuth's web SDKs (@fusionauth/react-sdk and its Angular
 * and Vue siblings), as steps for the route table to compose with the BFF's own login, refresh
 * and logout machinery. Settings are those of the one frontend configured by FUSIONAUTH_SDK_*.
 */
export function fusionAuthSdk(config: Config, sdk: FusionAuthSdkConfig, sessions: Sessions, log: EventLogger, now: () => number) {
  const cookie = expiryCookie(sdk, config.secure);
  const listedOrigins = new Set(sdk.origins);
  return {
    paths: sdkPaths(sdk.pathPrefix),
    cors: sdkCors(sdk),
    /**
     * CORS for /api/* when the SPA is on another listed origin: the proxy's own anti-CSRF check
     * (X-CSRF, Origin among PUBLIC_URL and FUSIONAUTH_SDK_ORIGINS) still runs after it.
     */
    apiCors: sdkCors(sdk, API_PREFLIGHT),
    sameSiteOnly,
    /** Sets or deletes the expiry cookie after the wrapped route (callback, refresh, me). */
    expiryCookie: withExpiryCookie(cookie, sessions, now),

    /**
     * GET /app/login/ and /app/register/: the SPA's redirect_uri must be on the allowlist; the
     * SDK's `state` rides inside the BFF's own sealed login transaction (as part of the return
     * address), so what the SPA gets back is what it sent, whatever comes back from the IdP.
     */
    loginRequest:
      (kind: 'login' | 'register') =>
      (ctx: BffContext): SdkLoginRequest => {
        checkClientId(param(ctx, 'clientId') ?? ctx.query['client_id'], sdk);
        const target = new URL(allowedRedirect(ctx.query['redirect_uri'], sdk));
        const state = sdkState(ctx.query['state']);
        if (state !== undefined) target.searchParams.set('state', state);
        return { returnTo: target.href, ...(kind === 'register' ? { params: sdk.registerParams } : {}) };
      },

    /** GET /app/me/ (after requireSession): the session's claims, never a token. */
    me: ((ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.body = ctx.state.session!.claims;
    }) satisfies Step,

    /** POST /app/refresh/ (after requireSession and ensureFreshToken): the cookie says the rest. */
    refreshed: ((ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.status = 204;
    }) satisfies Step,

    /** GET /account/: to FUSIONAUTH_SDK_ACCOUNT_URL. */
    account: ((ctx) => {
      checkClientId(ctx.query['client_id'], sdk);
      if (!sdk.accountUrl) throw new BffError('not_found', { detail: 'FUSIONAUTH_SDK_ACCOUNT_URL is not set' });
      ctx.redirect(sdk.accountUrl);
    }) satisfies Step,

    /**
     * GET /app/logout/, before the logout itself: the target must be on the allowlist, and the
     * request must not come from another site (the SDK navigates there from the SPA; a
     * cross-site link, image or form would otherwise sign the user out). Such a request, or one
     * from a browser that does not say where it came from, gets a confirmation page.
     */
    logoutGuard: (async (ctx, next) => {
      checkClientId(ctx.query['client_id'], sdk);
      logoutTargetOf(ctx, sdk);
      const site = ctx.get('sec-fetch-site');
      // Same site is not enough: a sibling subdomain (a user-content host) is the same site. It
      // counts only when the navigation comes from a listed SPA origin (its Referer's origin).
      const fromListedSpa = site === 'same-site' && listedOrigins.has(refererOrigin(ctx.get('referer')));
      if (site !== 'same-origin' && site !== 'none' && !fromListedSpa) {
        log.event('fusionauth.logout_confirm', { request_id: ctx.state.requestId, reason: site || 'no Sec-Fetch-Site' });
        ctx.set('Cache-Control', 'no-store');
        ctx.type = 'html';
        ctx.body = logoutConfirmPage(ctx.originalUrl);
        return;
      }
      ctx.append('Set-Cookie', cookie.expired());
      await next();
    }) satisfies Step,

    /** The validated post_logout_redirect_uri (or redirect_uri) of GET /app/logout/. */
    logoutTarget: (ctx: BffContext) => logoutTargetOf(ctx, sdk),
  };
}

export type FusionAuthSdk = ReturnType<typeof fusionAuthSdk>;

function logoutTargetOf(ctx: BffContext, sdk: FusionAuthSdkConfig): string {
  return allowedRedirect(ctx.query['post_logout_redirect_uri'] ?? ctx.query['redirect_uri'], sdk);
}

/** The origin of a Referer header, '' when there is none or it is not a URL. */
function refererOrigin(referer: string): string {
  if (!referer) return '';
  try {
    return new URL(referer).origin;
  } catch {
    return '';
  }
}
