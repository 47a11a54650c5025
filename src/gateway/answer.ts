import { foreignCookieHeader } from '../proxy/headers.js';
import type { Session } from '../session/session.js';

/** Request headers the gateway replaces with the answer's (and removes when the answer has none). */
const COPIED = ['authorization', 'cookie', 'x-auth-request-user', 'x-auth-request-email'] as const;
/** Printable ASCII on one line: a claim that is not (an internationalized address, say) is left out. */
const HEADER_SAFE = /^[\x20-\x7e]{1,512}$/;

/**
 * The headers of a forward-auth 200, for the gateway to put on the upstream request:
 *
 * - `Authorization: Bearer <token>`: the token the route's policy chose (none for a `none` route
 *   or an anonymous `user-optional` call);
 * - `Cookie`: the request's cookies without the BFF's own (the session cookie, its chunks, the
 *   login cookie), parsed by the same rules as /api/*; absent when none remain;
 * - `X-Auth-Request-User` (sub) and `X-Auth-Request-Email`, with `identity` and a session. The
 *   email only when the IdP verified it (`email_verified: true`): an upstream that takes the
 *   header as the user's address must not be handed one anybody could have typed in at sign-up;
 * - `X-Envoy-Auth-Headers-To-Remove`: the copied headers this answer does not set, and `X-CSRF`.
 *   Envoy keeps a request header that an answer does not override, so it is told to drop them
 *   (nginx and Traefik replace-or-remove by themselves; the header means nothing to them).
 */
export function answerHeaders(
  session: Session | undefined,
  cookieHeader: string | string[] | undefined,
  isOwnCookie: (name: string) => boolean,
  identity: boolean,
  token: string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (token) out['authorization'] = `Bearer ${token}`;
  const cookie = foreignCookieHeader(cookieHeader, isOwnCookie);
  if (cookie) out['cookie'] = cookie;
  if (identity && session) {
    setIfSafe(out, 'x-auth-request-user', session.sub);
    if (session.claims['email_verified'] === true) setIfSafe(out, 'x-auth-request-email', session.claims['email']);
  }
  out['x-envoy-auth-headers-to-remove'] = [...COPIED.filter((name) => !(name in out)), 'x-csrf'].join(', ');
  return out;
}

function setIfSafe(out: Record<string, string>, name: string, value: unknown): void {
  if (typeof value === 'string' && HEADER_SAFE.test(value)) out[name] = value;
}
