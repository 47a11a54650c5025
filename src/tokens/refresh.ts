import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { CookieIo } from '../web/cookie-io.js';
import type { EventLogger } from '../observability/logger.js';
import type { OidcClient } from '../idp/client.js';
import { tokenSet } from './token-set.js';
import { classifyIdp } from '../idp/failure.js';
import type { Session, Sessions, TokenSet } from '../session/session.js';
import { dpopKey, tokenEndpointDpop } from './dpop.js';
import type { LockStore } from '../store/store.js';
import { tokenSetId, type GraceRecords } from './grace.js';

export interface TokenRefresher {
  /**
   * Makes sure `session` carries an access token that is valid for at least the configured
   * skew, refreshing it first (or always, with `force`). A refresh the IdP rejects ends the
   * session (401 `unauthenticated`); a transient IdP fault keeps it (502).
   */
  ensureFresh(session: Session, options: RefreshOptions): Promise<void>;
  /**
   * Just before a response is sent: when this process refreshed the session meanwhile (another
   * request of it, for another resource), the response carries that newer set. With cookie
   * sessions, the cookie a browser keeps is the one of the response that arrives last, and it
   * must never hold a refresh token that was already used.
   */
  carryNewest(session: Session, io: CookieIo): void;
  /** True when ensureFresh without `force` would refresh: the check it starts with, without a promise. */
  isDue(session: Session, resource?: string): boolean;
}

export interface RefreshOptions {
  force: boolean;
  requestId: string;
  io: CookieIo;
  /** RFC 8707: the token that must be fresh is the one kept for this resource (fetched with the refresh token). */
  resource?: string | undefined;
}

export interface RefreshDeps {
  config: Config;
  idp: OidcClient;
  sessions: Sessions;
  grace: GraceRecords;
  /** The shared store whose locks make one refresh per session across instances (Redis, also under cookie sessions); none without Redis. */
  store: LockStore | undefined;
  log: EventLogger;
  now?: () => number;
}

/** Cheap, stable spread of a session's refresh moment (FNV-1a of its key), in [0, 1). */
function spread(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 2 ** 32;
}

/**
 * Refresh is lock → reload → re-check → act. Inside one process concurrent requests of a
 * session share one refresh; across instances a lock in the shared store lets one refresh
 * while the others wait (bounded) for its result; a grace record answers requests that still
 * hold the rotated refresh token.
 */
export function createRefresher({ config, idp, sessions, grace, store, log, now = Date.now }: RefreshDeps): TokenRefresher {
  const { refreshSkewMs: skew, refreshWaitMs } = config.session;
  // A fleet of sessions created together must not all refresh in the same second.
  const maxJitter = Math.min(skew / 2, 15_000);
  // The lock outlives the longest refresh it guards: a DPoP nonce challenge makes it two token
  // requests, each bounded by OIDC_TIMEOUT, plus the store writes around them.
  const lockTtlMs = 2 * config.oidc.timeoutSeconds * 1000 + 5_000;
  const inFlight = new Map<string, Promise<Refreshed>>();
  // The latest set each session got from a refresh in this process, and the ids of the sets it
  // replaced here (bounded; the sessions refreshed longest ago go first).
  const newest = new Map<string, { tokens: TokenSet; superseded: string[] }>();
  // When each session last had a forced refresh here (bounded like `newest`).
  const forcedAt = new Map<string, number>();
  const NEWEST_MAX = 10_000;
  const remember = (key: string, tokens: TokenSet, replaced: TokenSet) => {
    const superseded = [...(newest.get(key)?.superseded ?? []), tokenSetId(key, replaced)].slice(-8);
    newest.delete(key);
    newest.set(key, { tokens, superseded });
    if (newest.size > NEWEST_MAX) newest.delete(newest.keys().next().value!);
  };
  // The margin is capped at half the token's lifetime: a token that lives less than the skew
  // would otherwise be refreshed on every call.
  const isDue = (tokens: TokenSet, key: string, resource: string | undefined) => {
    const t = resource ? tokens.resources?.[resource] : tokens;
    if (!t) return true;
    if (t.expiresAt === 0) return false;
    const margin = skew + spread(key) * maxJitter;
    return t.expiresAt - (t.lifetimeMs ? Math.min(margin, t.lifetimeMs / 2) : margin) <= now();
  };

  const refresh = async (session: Session, resource: string | undefined, requestId: string, io: CookieIo): Promise<Refreshed> => {
    const replaced = session.tokens;
    const refreshToken = replaced.refreshToken!;
    let response: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      const configuration = idp.configuration();
      const key = session.tokens.dpopKey;
      response = await oidc.refreshTokenGrant(
        configuration,
        refreshToken,
        resource ? { resource } : undefined,
        key ? { DPoP: tokenEndpointDpop(configuration, await dpopKey(key)) } : undefined,
      );
    } catch (err) {
      throw await refreshError(err, session, requestId, io);
    }
    const claims = response.claims();
    if (claims && claims.sub !== session.sub) {
      // OpenID Connect Core 12.2: a refreshed ID token must be about the same user.
      await sessions.destroy(session, io);
      throw new BffError('unauthenticated', { event: 'refresh.rejected', detail: 'refreshed ID token has another sub' });
    }
    session.tokens = resource ? withResourceToken(session.tokens, resource, response, now()) : tokenSet(response, now(), session.tokens);
    // Remembered before the save: if the save fails, the new tokens are not lost with it. Written
    // whether or not the refresh token rotated: a cookie session has no server copy to re-read,
    // so this record is how a request still holding the old set learns of the new one. (A
    // resource token fetched without rotation leaves the held set valid: nothing to record.)
    const superseded = !sameSet(replaced, session.tokens);
    if (superseded) await grace.remember(session.key, replaced, session.tokens);
    if (!(await sessions.save(session, io))) {
      // Logged out while the IdP was answering: the new tokens die with the session.
      if (superseded) await grace.forget(session.key, replaced);
      throw new BffError('unauthenticated', { event: 'refresh.rejected', detail: 'session ended during the refresh' });
    }
    remember(session.key, session.tokens, replaced);
    log.event('refresh.ok', {
      request_id: requestId,
      session: sessions.logHandle(session),
      sub: session.sub,
      ...(resource ? { reason: `resource ${resource}` } : {}),
    });
    return { tokens: session.tokens, saved: true };
  };

  // This request may have read the session before another one refreshed it: re-read (a server
  // store) or look for the grace record of the set it holds (a cookie carries no newer copy),
  // re-check, and refresh only if still due, so a refresh token is never used twice.
  const reloadAndRefresh = async (session: Session, force: boolean, resource: string | undefined, requestId: string, io: CookieIo): Promise<Refreshed> => {
    const current = await sessions.reload(session);
    if (!current) throw new BffError('unauthenticated', { detail: 'session ended while refreshing' });
    const recalled = await grace.recall(current.key, current.tokens);
    if (recalled) return adopted(current, recalled, io);
    const refreshedMeanwhile = !sameSet(current.tokens, session.tokens);
    if (force ? refreshedMeanwhile : !isDue(current.tokens, current.key, resource)) return { tokens: current.tokens, saved: false };
    return refresh(current, resource, requestId, io);
  };

  /** The stored copy still holds a set another refresh replaced: it takes the new one (see Sessions.adopt). */
  const adopted = async (current: Session, recalled: TokenSet, io: CookieIo): Promise<Refreshed> => {
    current.tokens = recalled;
    // A newer set the store holds meanwhile replaces the recalled one (adopt never writes over it).
    await sessions.adopt(current, io);
    return { tokens: current.tokens, saved: true };
  };

  /** Across instances: take the session's lock, or wait (bounded) for the holder's result. */
  const lockedRefresh = async (
    store: LockStore,
    session: Session,
    force: boolean,
    resource: string | undefined,
    requestId: string,
    io: CookieIo,
  ): Promise<Refreshed> => {
    const lockKey = `${session.key}:lock`;
    const deadline = Date.now() + refreshWaitMs;
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      const token = await store.acquireLock(lockKey, lockTtlMs);
      if (token) {
        try {
          return await reloadAndRefresh(session, force, resource, requestId, io);
        } finally {
          await store.releaseLock(lockKey, token).catch(() => undefined);
        }
      }
      if (Date.now() + pause > deadline) {
        log.event('refresh.wait_timeout', { request_id: requestId, session: sessions.logHandle(session) });
        throw new BffError('refresh_in_progress');
      }
      await sleep(pause);
      const current = await sessions.reload(session);
      if (!current) throw new BffError('unauthenticated', { detail: 'session ended while another instance refreshed it' });
      if (!sameSet(current.tokens, session.tokens)) return { tokens: current.tokens, saved: false };
      const recalled = await grace.recall(current.key, current.tokens);
      if (recalled) return adopted(current, recalled, io);
    }
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

  const carryNewest = (session: Session, io: CookieIo) => {
    const latest = newest.get(session.key);
    // Only a set this process has already replaced is replaced: one that another instance
    // issued later is not ours to judge. (The hash is taken only when the sets differ.)
    if (latest && !sameSet(latest.tokens, session.tokens) && latest.superseded.includes(tokenSetId(session.key, session.tokens))) {
      session.tokens = latest.tokens;
      sessions.propagate(session, io);
    }
  };

  return {
    carryNewest,
    isDue: (session, resource) => isDue(session.tokens, session.key, resource),
    async ensureFresh(session, { force, requestId, io, resource }) {
      if (!force && !isDue(session.tokens, session.key, resource)) return;
      if (force && !resource) {
        // A forced refresh moments after the last one is answered with the newest tokens: one
        // session cannot drive the IdP (and get the BFF's client throttled there) at the rate limit.
        const last = forcedAt.get(session.key);
        if (last !== undefined && now() - last < FORCED_REFRESH_MIN_INTERVAL_MS) {
          carryNewest(session, io);
          return;
        }
        forcedAt.delete(session.key);
        forcedAt.set(session.key, now());
        if (forcedAt.size > NEWEST_MAX) forcedAt.delete(forcedAt.keys().next().value!);
      }
      const { expiresAt, refreshToken } = session.tokens;
      if (!refreshToken) {
        if (force) {
          throw new BffError('invalid_request', { description: 'This session has no refresh token (the IdP issued none; request the offline_access scope).' });
        }
        if (resource)
          throw new BffError('idp_error', { event: 'refresh.no_refresh_token', detail: `no refresh token to obtain a token for resource ${resource}` });
        if (expiresAt > now()) return; // still valid, just inside the skew: use it while it lasts
        await sessions.destroy(session, io);
        throw new BffError('unauthenticated', { event: 'refresh.no_refresh_token', detail: 'access token expired, no refresh token' });
      }
      // One refresh at a time per session (a rotated refresh token must never be used twice).
      // Another request's refresh may have renewed a different token than this one needs
      // (the session's or another resource's): then this one refreshes in turn.
      for (let round = 0; round < 3; round++) {
        const recalled = await grace.recall(session.key, session.tokens);
        if (recalled) {
          // Another request or instance refreshed the set this one holds: use its result, and
          // make the stored copy (or this response's cookie) carry it — its own save may have failed.
          session.tokens = recalled;
          await sessions.adopt(session, io);
        } else if (inFlight.has(session.key)) {
          const shared = inFlight.get(session.key)!;
          // Use its result, and carry it in this response too (cookie sessions re-issue the cookie; server stores have it).
          session.tokens = (await shared).tokens;
          sessions.propagate(session, io);
        } else {
          const pending = (
            store ? lockedRefresh(store, session, force, resource, requestId, io) : reloadAndRefresh(session, force, resource, requestId, io)
          ).finally(() => inFlight.delete(session.key));
          inFlight.set(session.key, pending);
          const outcome = await pending;
          session.tokens = outcome.tokens;
          // Tokens another request or instance saved reach this browser in this response too.
          if (!outcome.saved) sessions.propagate(session, io);
          if (force) return;
        }
        if ((force && !resource) || !isDue(session.tokens, session.key, resource)) return;
      }
      if (resource && !session.tokens.resources?.[resource]) throw new BffError('refresh_in_progress', { detail: `no token for resource ${resource} yet` });
    },
  };
}

/** The tokens a refresh ended with; `saved` when this request wrote them (and its cookie). */
interface Refreshed {
  tokens: TokenSet;
  saved: boolean;
}

/** POST /refresh refreshes a session at most once in this interval per instance; within it, it answers with the newest tokens. */
export const FORCED_REFRESH_MIN_INTERVAL_MS = 10_000;

const sameSet = (a: TokenSet, b: TokenSet) => a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;

/** The session's tokens after a refresh for one resource: its token replaced, the rotated refresh token kept. */
function withResourceToken(previous: TokenSet, resource: string, r: oidc.TokenEndpointResponse, nowMs: number): TokenSet {
  const expiresIn = typeof r.expires_in === 'number' ? r.expires_in * 1000 : undefined;
  const token = {
    accessToken: r.access_token,
    tokenType: r.token_type ?? 'Bearer',
    expiresAt: expiresIn === undefined ? 0 : nowMs + expiresIn,
    ...(expiresIn === undefined ? {} : { lifetimeMs: expiresIn }),
    ...(r.scope ? { scope: r.scope } : {}),
  };
  return {
    ...previous,
    ...(r.refresh_token ? { refreshToken: r.refresh_token } : {}),
    ...(r.id_token ? { idToken: r.id_token } : {}),
    resources: { ...previous.resources, [resource]: token },
  };
}
