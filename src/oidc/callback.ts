import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { cookieIo } from '../web/cookie-io.js';
import type { Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import type { Revocations } from '../session/revocations.js';
import type { Sessions } from '../session/session.js';
import { tokenSet } from '../tokens/token-set.js';
import type { OidcClient } from '../idp/client.js';
import { createDpopKey, dpopKey, tokenEndpointDpop } from '../tokens/dpop.js';
import { authenticationProblem, idTokenIatProblem } from './id-token-checks.js';
import { classifyIdp } from '../idp/failure.js';
import type { Transactions } from './transactions.js';

export interface CallbackDeps {
  config: Config;
  idp: OidcClient;
  transactions: Transactions;
  sessions: Sessions;
  revocations: Revocations;
  log: EventLogger;
  now?: () => number;
}

/**
 * GET /callback: the browser returns from the IdP. The transaction must have been started by
 * this browser and is used once; openid-client checks `iss` (RFC 9207), state, exchanges the
 * code with the PKCE verifier and validates the ID token (signature against the JWKS, iss,
 * aud, exp, nonce); we add iat (id-token-checks.ts) and the acr / auth_time the login asked
 * for. Then a session starts under a brand-new id (no fixation) and the
 * browser goes to its returnTo.
 */
export function callback({ config, idp, transactions, sessions, revocations, log, now = Date.now }: CallbackDeps): Step {
  const keep = new Set(config.session.claims);
  return async (ctx) => {
    const configuration = idp.configuration();
    const state = ctx.query['state'];
    if (typeof state !== 'string' || state.length === 0 || state.length > 512) {
      throw new BffError('invalid_state', { event: 'callback.state_invalid', detail: 'missing or malformed state' });
    }
    const io = cookieIo(ctx);
    const tx = await transactions.take(state, io);
    if (!tx) {
      throw new BffError('invalid_state', { event: 'callback.state_invalid', detail: 'unknown, used, expired or foreign state' });
    }
    // The URL the IdP redirected to, rebuilt from configuration: the Host header is not trusted.
    const currentUrl = new URL(`${config.oidc.redirectUri}?${ctx.querystring}`);
    // OIDC_DPOP: the session's tokens are bound to the key /login bound the code to, sealed with them
    // (a transaction from before DPoP was turned on gets a new key).
    const dpopJwk = config.api.dpop ? (tx.dpopKey ?? (await createDpopKey())) : undefined;
    let result: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    // Before the IdP issues the ID token: a logout of this user or IdP session recorded from now on ends the new session.
    const authAt = now();
    try {
      result = await oidc.authorizationCodeGrant(
        configuration,
        currentUrl,
        {
          pkceCodeVerifier: tx.codeVerifier,
          expectedState: state,
          expectedNonce: tx.nonce,
          idTokenExpected: true,
        },
        undefined,
        dpopJwk ? { DPoP: tokenEndpointDpop(configuration, await dpopKey(dpopJwk)) } : undefined,
      );
    } catch (err) {
      throw callbackError(err);
    }
    const claims = result.claims();
    if (!claims) throw new BffError('idp_error', { event: 'callback.response_invalid', detail: 'no ID token in the token response' });
    // openid-client checked signature, iss, aud, exp, nbf and nonce; iat and the requested authentication are ours to check.
    // Against the wall clock, the one openid-client checks exp and nbf with, so that every time check of the token agrees
    // (the injected clock moves the BFF's own timers; the IdP's clock is not ours to move).
    const bounds = { nowSeconds: Math.floor(Date.now() / 1000), toleranceSeconds: config.oidc.clockToleranceSeconds };
    const iatProblem = idTokenIatProblem(claims, config.oidc.idTokenMaxAgeSeconds, bounds);
    if (iatProblem) throw new BffError('id_token_invalid', { event: 'callback.id_token_invalid', detail: iatProblem });
    const authProblem = tx.requested && authenticationProblem(claims, tx.requested, bounds);
    if (authProblem) throw new BffError('insufficient_user_authentication', { event: 'callback.authentication_insufficient', detail: authProblem });

    const previous = await sessions.load(io);
    if (previous) await sessions.destroy(previous, io);
    const session = await sessions.create(
      {
        sub: claims.sub,
        claims: Object.fromEntries(Object.entries(claims).filter(([name]) => keep.has(name))),
        tokens: { ...tokenSet(result, now()), ...(dpopJwk ? { dpopKey: dpopJwk } : {}) },
        ...(typeof claims['sid'] === 'string' ? { idpSid: claims['sid'] } : {}),
        ...(ctx.get('user-agent') ? { userAgent: ctx.get('user-agent') } : {}),
        authAt,
        ...(typeof claims.auth_time === 'number' ? { authTime: claims.auth_time * 1000 } : {}),
      },
      io,
    );
    // Checked after the session exists (and is indexed): a back-channel logout recorded before
    // this check is seen here, one recorded after it finds the session in the store's indexes.
    if (await revocations.isRevoked(session, { fresh: true })) {
      await sessions.destroy(session, io);
      throw new BffError('login_failed', {
        event: 'callback.logged_out_meanwhile',
        detail: 'the IdP ended this user or IdP session while the login completed',
        description: 'Your sign-in was ended by a logout at the identity provider. Please sign in again.',
      });
    }
    // For steps after the callback (the FusionAuth SDK's expiry cookie).
    ctx.state.session = session;
    ctx.set('Cache-Control', 'no-store');
    log.event('callback.completed', { request_id: ctx.state.requestId, session: sessions.logHandle(session), sub: session.sub });
    ctx.redirect(tx.returnTo.startsWith('/') ? config.publicOrigin + tx.returnTo : tx.returnTo);
  };
}

function callbackError(err: unknown): BffError {
  if (err instanceof oidc.AuthorizationResponseError) {
    const code = /^[\w.-]{1,64}$/.test(err.error) ? err.error : 'invalid';
    if (code === 'access_denied') return new BffError('access_denied', { event: 'callback.access_denied', detail: code });
    return new BffError('login_failed', {
      event: 'callback.idp_error',
      detail: code,
      description: `The identity provider could not sign you in (${code}). Please sign in again.`,
    });
  }
  // Problems with the redirect itself (iss missing or wrong, repeated parameters) are bad input, not an IdP fault.
  if (concernsRedirectParameters(err)) {
    return new BffError('login_failed', { event: 'callback.response_invalid', detail: (err as Error).message, cause: err });
  }
  const failure = classifyIdp(err);
  switch (failure.kind) {
    case 'rejected':
      return new BffError('login_failed', { event: 'callback.code_rejected', detail: failure.detail, cause: err });
    case 'unreachable':
      return new BffError('idp_unreachable', { event: 'callback.idp_unreachable', detail: failure.detail, cause: err });
    default:
      return new BffError('idp_error', { event: 'callback.response_invalid', detail: failure.detail, cause: err });
  }
}

/** openid-client marks checks of the redirect's own parameters with a `parameters` cause (possibly wrapped once). */
function concernsRedirectParameters(err: unknown): boolean {
  if ((err as { code?: unknown }).code === 'OAUTH_INVALID_REQUEST') return true;
  let cause = (err as { cause?: unknown }).cause;
  for (let depth = 0; depth < 3 && cause && typeof cause === 'object'; depth++) {
    if ('parameters' in cause) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
