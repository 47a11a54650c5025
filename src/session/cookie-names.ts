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
  // so a sibling subdomain cannot plant or shadow it.
  const prefix = config.secure ? '__Host-' : '';
  const base = config.session.cookieBase;
  const own = new RegExp(`^(?:__Host-|__Secure-)?${base}-`);
  return {
    session: `${prefix}${base}-session`,
    login: `${prefix}${base}-login`,
    attributes: { secure: config.secure, sameSite: config.session.sameSite === 'strict' ? 'Strict' : 'Lax' },
    isOwn: (name) => own.test(name),
  };
}
