import type { Config } from '../config/load.js';
import { safeReturnTo, type ReturnToPolicy } from './return-to.js';

const policies = new WeakMap<Config, ReturnToPolicy>();

/**
 * Where the browser goes after logout: the `returnTo` the SPA passed to /logout when the
 * return-to validator accepts it (same-origin path, or an ALLOWED_RETURN_TO_ORIGINS origin),
 * otherwise POST_LOGOUT_REDIRECT_URI. Always an absolute URL.
 */
export function postLogoutTarget(raw: unknown, config: Config): string {
  if (raw === undefined) return config.oidc.postLogoutRedirectUri;
  // One policy object per configuration: safeReturnTo compiles and caches it by identity.
  let policy = policies.get(config);
  if (!policy) {
    policy = { publicOrigin: config.publicOrigin, allowedOrigins: config.allowedReturnToOrigins };
    policies.set(config, policy);
  }
  const safe = safeReturnTo(raw, policy);
  // safeReturnTo answers '/' for what it refuses: a refused value gets the configured default instead.
  if (safe === '/' && raw !== '/') return config.oidc.postLogoutRedirectUri;
  return safe.startsWith('/') ? config.publicOrigin + safe : safe;
}
