import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { EventLogger } from '../observability/logger.js';
import type { CookieIo } from '../http/cookie-io.js';
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
  ensureFresh(session: Session, options: { force: boolean; requestId: string; io: CookieIo }): Promise<void>;
}

/** How long the tokens of a refresh answer requests that still carry the old refresh token. */
const GRACE_MS = 10_000;

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
  // A request that still carries a just-rotated refresh token (its cookie left before the
  // refresh ended) must use the new tokens, not replay the old refresh token: an IdP that
  // rotates refresh tokens treats a replay as theft and ends the grant.
  const grace = new Map<string, { tokens: TokenSet; until: number }>();
  const graceKey = (refreshToken: string) => createHash('sha256').update(refreshToken).digest('base64url');
  const remember = (oldRefreshToken: string, tokens: TokenSet) => {
    const t = now();
    for (const [k, v] of grace) if (v.until <= t) grace.delete(k);
    grace.set(graceKey(oldRefreshToken), { tokens, until: t + GRACE_MS });
  };
  const recalled = (refreshToken: string): TokenSet | undefined => {
    const hit = grace.get(graceKey(refreshToken));
    return hit && hit.until > now() ? hit.tokens : undefined;
  };
  const isDue = (t: TokenSet) => t.expiresAt !== 0 && t.expiresAt - skew <= now();

  const refresh = async (session: Session, requestId: string, io: CookieIo): Promise<TokenSet> => {
    const refreshToken = session.tokens.refreshToken!;
    let response: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      response = await oidc.refreshTokenGrant(idp.configuration(), refreshToken);
    } catch (err) {
      throw await refreshError(err, session, requestId, io);
    }
    const claims = response.claims();
    if (claims && claims.sub !== session.sub) {
      // OpenID Connect Core 12.2: a refreshed ID token must be about the same user.
      await sessions.destroy(session, io);
      throw new BffError('unauthenticated', { event: 'refresh.rejected', detail: 'refreshed ID token has another sub' });
    }
    const tokens = tokenSet(response, now(), session.tokens);
    remember(refreshToken, tokens);
    session.tokens = tokens;
    if (!(await sessions.save(session, io))) {
      // Logged out while the IdP was answering: the new tokens die with the session.
      throw new BffError('unauthenticated', { event: 'refresh.rejected', detail: 'session ended during the refresh' });
    }
    log.event('refresh.ok', { request_id: requestId, session: sessions.logHandle(session), sub: session.sub });
    return tokens;
  };

  // This request may have read the session before another one refreshed it: re-read, re-check,
  // and refresh only if still due, so a rotated refresh token is never replayed.
  const reloadAndRefresh = async (session: Session, force: boolean, requestId: string, io: CookieIo): Promise<TokenSet> => {
    const current = await sessions.reload(session);
    if (!current) throw new BffError('unauthenticated', { detail: 'session ended while refreshing' });
    if (!force && !isDue(current.tokens) || force && current.tokens.refreshToken !== session.tokens.refreshToken) return current.tokens;
    return refresh(current, requestId, io);
  };

  const refreshError = async (err: unknown, session: Session, requestId: string, io: CookieIo): Promise<BffError> => {
    const failure = classifyIdp(err);
    if (failure.kind === 'rejected') {
      await sessions.destroy(session, io);
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
    async ensureFresh(session, { force, requestId, io }) {
      const { expiresAt, refreshToken } = session.tokens;
      if (!force && !isDue(session.tokens)) return;
      if (!refreshToken) {
        if (force) {
          throw new BffError('invalid_request', { description: 'This session has no refresh token (the IdP issued none; request the offline_access scope).' });
        }
        if (expiresAt > now()) return; // still valid, just inside the skew: use it while it lasts
        await sessions.destroy(session, io);
        throw new BffError('unauthenticated', { event: 'refresh.no_refresh_token', detail: 'access token expired, no refresh token' });
      }
      const already = recalled(refreshToken);
      if (already) {
        session.tokens = already;
        sessions.propagate(session, io);
        return;
      }
      const shared = inFlight.get(session.key);
      if (shared) {
        // Another request of this session is refreshing: use its result, and carry it in this
        // response too (cookie sessions re-issue the cookie; server stores have it already).
        session.tokens = await shared;
        sessions.propagate(session, io);
        return;
      }
      const pending = reloadAndRefresh(session, force, requestId, io).finally(() => inFlight.delete(session.key));
      inFlight.set(session.key, pending);
      session.tokens = await pending;
    },
  };
}
