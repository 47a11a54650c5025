import type * as oidc from 'openid-client';
import type { TokenSet } from '../session/session.js';

/** The session's tokens from a token endpoint response (a code exchange or a refresh of the session's own token). */
export function tokenSet(r: oidc.TokenEndpointResponse, nowMs: number, previous?: TokenSet): TokenSet {
  const t: TokenSet = {
    accessToken: r.access_token,
    tokenType: r.token_type ?? 'Bearer',
    expiresAt: typeof r.expires_in === 'number' ? nowMs + r.expires_in * 1000 : 0,
  };
  if (typeof r.expires_in === 'number') t.lifetimeMs = r.expires_in * 1000;
  // A refresh response may omit the refresh token (no rotation) or the ID token: keep the old ones.
  const refreshToken = r.refresh_token ?? previous?.refreshToken;
  const idToken = r.id_token ?? previous?.idToken;
  const scope = r.scope ?? previous?.scope;
  if (refreshToken) t.refreshToken = refreshToken;
  if (idToken) t.idToken = idToken;
  if (scope) t.scope = scope;
  // Resource tokens outlive a refresh of the session's own token; the DPoP key outlives every refresh.
  if (previous?.resources) t.resources = previous.resources;
  if (previous?.dpopKey) t.dpopKey = previous.dpopKey;
  return t;
}
