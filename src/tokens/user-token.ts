import type { ApiRoute } from '../config/api-routes.js';
import type { Session } from '../session/session.js';

/** The token a `user` route sends: the route's resource token (never the session's own instead), or the session's own. */
export function userToken(
  session: Session,
  route: ApiRoute,
): { accessToken: string; tokenType: string; expiresAt: number; scope?: string | undefined } | undefined {
  const t = session.tokens;
  return route.resource ? t.resources?.[route.resource] : t;
}
