import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { EventLogger } from '../observability/logger.js';
import type { OidcClient } from '../oidc/client.js';
import { tokenSet } from '../oidc/callback.js';
import { classifyIdp } from '../oidc/idp-failure.js';
import type { Session, Sessions, TokenSet } from '../session/session.js';

export interface TokenRefresher {
  /**
   * Makes sure `session` carries an access token that is valid for at least the configured
   * skew, refreshing it first (or always, with `force`). A refresh the IdP rejects ends the
   * session (401 `unauthenticated`); a transient IdP fault keeps it (502).
   */
  ensureFresh(session: Session, options: { force: boolean; requestId: string }): Promise<void>;
}

export interface RefreshDeps {
  config: Config;
  idp: OidcClient;
  sessions: Sessions;
  log: EventLogger;
  now?: () => number;
}

export function createRefresher({ config, idp, sessions, log, now = Date.now }: RefreshDeps): TokenRefresher {
  const skew = config.session.refreshSkewMs;
  // Concurrent requests of one session inside this process share one refresh.
  const inFlight = new Map<string, Promise<TokenSet>>();
  const isDue = (t: TokenSet) => t.expiresAt !== 0 && t.expiresAt - skew <= now();

  const refresh = async (session: Session, requestId: string): Promise<TokenSet> => {
    const refreshToken = session.tokens.refreshToken!;
    let response: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      response = await oidc.refreshTokenGrant(idp.configuration(), refreshToken);
    } catch (err) {
      throw await refreshError(err, session, requestId);
    }
    const claims = response.claims();
    if (claims && claims.sub !== session.sub) {
      // OpenID Connect Core 12.2: a refreshed ID token must be about the same user.
      await sessions.destroy(session);
      throw new BffError('unauthenticated', { event: 'refresh.rejected', detail: 'refreshed ID token has another sub' });
    }
    const tokens = tokenSet(response, now(), session.tokens);
    session.tokens = tokens;
    if (!(await sessions.save(session))) {
      // Logged out while the IdP was answering: the new tokens die with the session.
      throw new BffError('unauthenticated', { event: 'refresh.rejected', detail: 'session ended during the refresh' });
    }
    log.event('refresh.ok', { request_id: requestId, session: sessions.logHandle(session), sub: session.sub });
    return tokens;
  };

  // This request may have read the session before another one refreshed it: re-read, re-check,
  // and refresh only if still due, so a rotated refresh token is never replayed.
  const reloadAndRefresh = async (session: Session, force: boolean, requestId: string): Promise<TokenSet> => {
    const current = await sessions.reload(session);
    if (!current) throw new BffError('unauthenticated', { detail: 'session ended while refreshing' });
    if (!force && !isDue(current.tokens) || force && current.tokens.refreshToken !== session.tokens.refreshToken) return current.tokens;
    return refresh(current, requestId);
  };

  const refreshError = async (err: unknown, session: Session, requestId: string): Promise<BffError> => {
    const failure = classifyIdp(err);
    if (failure.kind === 'rejected') {
      await sessions.destroy(session);
      return new BffError('unauthenticated', {
        event: 'refresh.rejected',
        detail: failure.detail,
        description: 'Your session has ended at the identity provider. Please sign in again.',
      });
    }
    log.event('refresh.failed', { request_id: requestId, session: sessions.logHandle(session), reason: `${failure.kind}: ${failure.detail}` });
    return new BffError(failure.kind === 'unreachable' ? 'idp_unreachable' : 'idp_error', { detail: failure.detail, cause: err });
  };

  return {
    async ensureFresh(session, { force, requestId }) {
      const { expiresAt, refreshToken } = session.tokens;
      if (!force && !isDue(session.tokens)) return;
      if (!refreshToken) {
        if (force) {
          throw new BffError('invalid_request', { description: 'This session has no refresh token (the IdP issued none; request the offline_access scope).' });
        }
        if (expiresAt > now()) return; // still valid, just inside the skew: use it while it lasts
        await sessions.destroy(session);
        throw new BffError('unauthenticated', { event: 'refresh.no_refresh_token', detail: 'access token expired, no refresh token' });
      }
      let pending = inFlight.get(session.key);
      if (!pending) {
        pending = reloadAndRefresh(session, force, requestId).finally(() => inFlight.delete(session.key));
        inFlight.set(session.key, pending);
      }
      session.tokens = await pending;
    },
  };
}
