import type { Config } from '../config/load.js';
import type { CookieAttributes } from '../web/cookies.js';

/** Names and attributes of the BFF's own cookies, derived once from the configuration. */
export interface CookieNames {
  session: string;
  login: string;
  attributes: CookieAttributes;
  /** True for any cookie the BFF owns (including future chunk cookies): never forwarded upstream. */
  isOwn(name: string): boolean;
}

export function cookieNames(config: Config): CookieNames {
  // __Host- makes the browser refuse the cookie unless it is Secure, Path=/ and host-only,
  // so a sibling subdomain cannot plant or shadow it. A frontend under a path prefix (BFF_CONFIG)
  // keeps its cookies under that path instead, which __Host- forbids: __Secure- still demands https.
  const pathPrefix = config.frontend?.pathPrefix ?? '';
  const prefix = config.secure ? (pathPrefix ? '__Secure-' : '__Host-') : '';
  const base = config.session.cookieBase;
  // Base names hold letters, digits and _ only: nothing to escape.
  const own = new RegExp(`^(?:__Host-|__Secure-)?(?:${(config.frontend?.cookieBases ?? [base]).join('|')})-`);
  const attributes = { secure: config.secure, sameSite: config.session.sameSite === 'strict' ? 'Strict' : 'Lax' } as const;
  return {
    session: `${prefix}${base}-session`,
    login: `${prefix}${base}-login`,
    attributes: pathPrefix ? { ...attributes, path: pathPrefix } : attributes,
    isOwn: (name) => own.test(name),
  };
}
