import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { ApiRoute } from '../config/api-routes.js';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { OidcClient } from '../idp/client.js';
import { classifyIdp } from '../idp/failure.js';
import { introspect } from '../idp/introspection.js';
import type { EventLogger } from '../observability/logger.js';
import type { Sealer } from '../session/seal.js';
import type { Session, Sessions } from '../session/session.js';
import type { KeyValueStore } from '../store/store.js';
import { cookieIo } from '../web/cookie-io.js';
import type { Step } from '../web/context.js';
import type { TokenRefresher } from './refresh.js';

/** The JWT behind an opaque access token, and until when (epoch ms) it may be used. */
export interface Phantom {
  readonly jwt: string;
  readonly useUntil: number;
}

export type PhantomAnswer = { active: true; phantom: Phantom } | { active: false };
type Answer = PhantomAnswer;

export interface PhantomDeps {
  config: Config;
  idp: OidcClient;
  /** Shared between instances (Redis), or this process's memory store without one. */
  store: KeyValueStore;
  sealer: Sealer;
  sessions: Sessions;
  refresher: TokenRefresher;
  log: EventLogger;
  now: () => number;
}

const LOCAL_MAX = 10_000;
/** How long a JWT is used when neither the IdP nor the session knows the token's expiry. */
const FALLBACK_MS = 60_000;

/**
 * Where the JWT of a token is kept: a hash of the opaque token, never the token itself (a
 * store dump, a Redis MONITOR or a key listing shows no usable token).
 */
export const phantomKey = (token: string) => `ph:${createHash('sha256').update(token).digest('base64url')}`;

/**
 * Phantom tokens (direction 1): the session holds the IdP's opaque access token, the route's
 * upstream gets the JWT that the IdP's introspection hands out for it. The JWT is kept until
 * the token's expiry minus TOKEN_REFRESH_SKEW: in this process (one introspection for any
 * number of concurrent requests with the token), and sealed in the shared store, so another
 * instance does not ask the IdP again.
 */
export function createPhantomTokens({ config, idp, store, sealer, sessions, refresher, log, now }: PhantomDeps) {
  const skew = config.session.refreshSkewMs;
  const { dialect } = config.oidc.introspection;
  const local = new Map<string, Phantom>();
  const pending = new Map<string, Promise<Answer>>();

  const remember = (key: string, phantom: Phantom) => {
    local.delete(key);
    local.set(key, phantom);
    if (local.size > LOCAL_MAX) local.delete(local.keys().next().value!);
  };

  const readShared = async (key: string): Promise<Phantom | undefined> => {
    const sealed = await store.get(key);
    const opened = sealed === undefined ? undefined : sealer.unseal(sealed, key);
    if (!opened) return undefined;
    const phantom = JSON.parse(opened.plaintext) as Phantom;
    return phantom.useUntil > now() ? phantom : undefined;
  };

  const askIdp = async (token: string, route: ApiRoute, tokenExpiresAt: number): Promise<Answer> => {
    let answer: Awaited<ReturnType<typeof introspect>>;
    try {
      answer = await introspect(idp.configuration(), token, dialect);
    } catch (err) {
      if (err instanceof BffError) throw err; // idp_not_ready (503)
      const failure = classifyIdp(err);
      log.event('phantom.failed', { route: route.path, reason: `${failure.kind}: ${failure.detail}` });
      throw new BffError(failure.kind === 'unreachable' ? 'idp_unreachable' : 'idp_error', {
        detail: `introspection for ${route.path}: ${failure.detail}`,
        cause: err,
      });
    }
    if (!answer.active) return { active: false };
    if (!answer.jwt) {
      log.event('phantom.failed', { route: route.path, reason: `the introspection answer carries no JWT (OIDC_INTROSPECTION_DIALECT=${dialect})` });
      throw new BffError('idp_error', { detail: `introspection for ${route.path} gave no JWT` });
    }
    const tokenEnds = answer.exp !== undefined ? answer.exp * 1000 : tokenExpiresAt || now() + FALLBACK_MS;
    // An IdP may mint the JWT with a shorter life than the token it stands for: never past either.
    const jwtEnds = jwtExpiry(answer.jwt);
    const expiresAt = jwtEnds === undefined ? tokenEnds : Math.min(tokenEnds, jwtEnds);
    return { active: true, phantom: { jwt: answer.jwt, useUntil: expiresAt - skew } };
  };

  /** The JWT for `token`: this process's copy, the shared one, or (once for concurrent callers) the IdP's answer. */
  const lookup = (token: string, route: ApiRoute, tokenExpiresAt: number): Promise<Answer> => {
    const key = phantomKey(token);
    const held = local.get(key);
    if (held && held.useUntil > now()) {
      log.event('phantom.hit', { route: route.path });
      return Promise.resolve({ active: true, phantom: held });
    }
    const inFlight = pending.get(key);
    if (inFlight) return inFlight;
    const p = (async (): Promise<Answer> => {
      const shared = await readShared(key);
      if (shared) {
        log.event('phantom.shared_hit', { route: route.path });
        remember(key, shared);
        return { active: true, phantom: shared };
      }
      log.event('phantom.miss', { route: route.path });
      const answer = await askIdp(token, route, tokenExpiresAt);
      if (answer.active) {
        const ttl = answer.phantom.useUntil - now();
        // A token too close to its expiry serves this request only.
        if (ttl > 0) {
          remember(key, answer.phantom);
          await store.set(key, sealer.seal(JSON.stringify(answer.phantom), key), ttl);
        }
      }
      return answer;
    })().finally(() => pending.delete(key));
    pending.set(key, p);
    return p;
  };

  /**
   * Sends the JWT behind the session's token as `Authorization: Bearer`. A token the IdP calls
   * inactive (revoked, or expired early) is refreshed once; still inactive, or no refresh
   * token: the session ends (401). An IdP failure is a 502/503: the opaque token is never sent
   * in the JWT's place.
   */
  const sendPhantomToken =
    (route: ApiRoute): Step =>
    async (ctx, next) => {
      const session: Session = ctx.state.session!;
      let answer = await lookup(session.tokens.accessToken, route, session.tokens.expiresAt);
      if (!answer.active) {
        log.event('phantom.inactive', { route: route.path });
        const io = cookieIo(ctx);
        if (session.tokens.refreshToken) {
          try {
            await refresher.ensureFresh(session, { force: true, requestId: ctx.state.requestId, io });
          } catch (err) {
            if ((err as { code?: unknown }).code === 'unauthenticated') sessions.clear(io);
            throw err;
          }
          answer = await lookup(session.tokens.accessToken, route, session.tokens.expiresAt);
        }
        if (!answer.active) {
          await sessions.destroy(session, io);
          throw new BffError('unauthenticated', { detail: 'the IdP reports the access token inactive' });
        }
      }
      ctx.state.upstreamAuth = { token: answer.phantom.jwt, dpop: undefined };
      ctx.state.phantomUseUntil = answer.phantom.useUntil;
      await next();
    };

  return { sendPhantomToken, phantomFor: lookup };
}

export type PhantomTokens = ReturnType<typeof createPhantomTokens>;

declare module '../web/context.js' {
  interface BffState {
    /** Set by a `phantom` route's token step: until when (epoch ms) its JWT may be used; bounds a forward-auth answer's max-age. */
    phantomUseUntil?: number;
  }
}

/** The JWT's own `exp` (epoch ms), read without verifying: the upstream verifies it; this only bounds how long it is reused. */
function jwtExpiry(jwt: string): number | undefined {
  try {
    const { exp } = decodeJwt(jwt);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
