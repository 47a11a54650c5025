import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { cookieIo } from '../web/cookie-io.js';
import type { BffContext, Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import type { OidcClient } from '../idp/client.js';
import { classifyIdpFailure } from '../idp/failure.js';
import { loginResources } from '../config/api-routes.js';
import { createDpopKey, dpopKey, tokenEndpointDpop } from '../tokens/dpop.js';
import { requestedAuthentication } from './id-token-checks.js';
import { pickLoginParams } from './login-params.js';
import { safeReturnTo } from './return-to.js';
import type { Transactions } from './transactions.js';

export interface LoginDeps {
  config: Config;
  idp: OidcClient;
  transactions: Transactions;
  log: EventLogger;
}

/**
 * What a route in front of this machinery decided instead of `returnTo` (the FusionAuth SDK
 * routes): the absolute URL the callback ends at, and authorization parameters of its own.
 */
export interface LoginRequest {
  returnTo: string;
  params?: ReadonlyArray<readonly [string, string]>;
}

/**
 * GET /login: starts an Authorization Code + PKCE transaction (fresh state, nonce and S256
 * verifier), remembers it for /callback, and sends the browser to the IdP, through PAR when the
 * IdP offers it and it is enabled (or when the IdP requires it).
 * @see https://www.rfc-editor.org/rfc/rfc9700 (OAuth 2.0 Security BCP)
 * @see https://www.rfc-editor.org/rfc/rfc9126 (PAR)
 */
export function login({ config, idp, transactions, log }: LoginDeps, requestOf?: (ctx: BffContext) => LoginRequest): Step {
  const returnToPolicy = { publicOrigin: config.publicOrigin, allowedOrigins: config.allowedReturnToOrigins };
  const resources = loginResources(config.api.routes);
  // A frontend under a path prefix (BFF_CONFIG) has its home there, not at the origin's root.
  const home = `${config.frontend?.pathPrefix ?? ''}/`;
  return async (ctx) => {
    const configuration = idp.configuration();
    const routeRequest = requestOf?.(ctx);
    const extra = pickLoginParams(ctx.query);
    if ('invalid' in extra) {
      throw new BffError('invalid_request', { description: `The ${extra.invalid} parameter is malformed.`, detail: `bad ${extra.invalid}` });
    }
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const target = safeReturnTo(ctx.query['returnTo'], returnToPolicy);
    const returnTo = routeRequest ? routeRequest.returnTo : target === '/' ? home : target;
    const params: Record<string, string> = {
      ...extra.params,
      response_type: 'code',
      redirect_uri: config.oidc.redirectUri,
      scope: config.oidc.scopes,
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    const server = configuration.serverMetadata();
    const usePar = server.require_pushed_authorization_requests === true || (config.oidc.usePar && server.pushed_authorization_request_endpoint !== undefined);
    // The operator's OIDC_AUTH_PARAMS win over what the SPA passed (an acr_values set there is not downgraded).
    const request = new URLSearchParams(params);
    // The route's own parameters (register's prompt=create) win over what the SPA passed.
    for (const [name, value] of routeRequest?.params ?? []) request.set(name, value);
    for (const [name] of config.oidc.authParams) request.delete(name);
    for (const [name, value] of config.oidc.authParams) request.append(name, value);
    // RFC 8707: every resource a route needs a token for is asked for here, once.
    for (const resource of resources) request.append('resource', resource);
    // OIDC_DPOP: the session's key is made now, and the code is bound to it (RFC 9449 10): by the
    // proof on the PAR request, or by dpop_jkt in the authorization URL.
    const dpopJwk = config.api.dpop ? await createDpopKey() : undefined;
    const dpop = dpopJwk && tokenEndpointDpop(configuration, await dpopKey(dpopJwk));
    if (dpop && !usePar) request.set('dpop_jkt', await dpop.calculateThumbprint());
    let url: URL;
    try {
      url = usePar
        ? await oidc.buildAuthorizationUrlWithPAR(configuration, request, dpop ? { DPoP: dpop } : undefined)
        : oidc.buildAuthorizationUrl(configuration, request);
    } catch (err) {
      throw classifyIdpFailure(err, 'login.par_failed');
    }
    // Remembered only once the IdP accepted the request: a failed PAR leaves nothing behind.
    // What was asked of the IdP, from the final request (OIDC_AUTH_PARAMS included), is what /callback checks.
    const requested = requestedAuthentication(request);
    const tx = { codeVerifier, nonce, returnTo, ...(dpopJwk ? { dpopKey: dpopJwk } : {}), ...(Object.keys(requested).length ? { requested } : {}) };
    await transactions.begin(state, tx, cookieIo(ctx));
    ctx.set('Cache-Control', 'no-store');
    log.event('login.started', { request_id: ctx.state.requestId, reason: usePar ? 'par' : 'query' });
    ctx.redirect(url.href);
  };
}
