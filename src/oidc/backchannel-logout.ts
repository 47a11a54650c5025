import { createHash } from 'node:crypto';
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import type { SessionDirectory } from '../session/directory.js';
import type { KeyValueStore } from '../store/store.js';
import type { OidcClient } from '../idp/client.js';
import { LogoutTokenError, verifyLogoutToken } from './logout-token.js';

export interface BackchannelDeps {
  config: Config;
  idp: OidcClient;
  /** Undefined for cookie sessions without Redis: nothing server-side could be ended. */
  directory: SessionDirectory | undefined;
  store: KeyValueStore | undefined;
  log: EventLogger;
  now: () => number;
}

const MAX_BODY = 16 * 1024;

/**
 * POST /backchannel-logout: the IdP tells us a user's IdP session ended. A valid logout token
 * ends every BFF session of that IdP session (`sid`) or of that user (`sub` only), on every
 * instance (the sessions and their indexes live in the shared store). A bad token gets 400
 * and ends nothing; a replayed `jti` is a bad token.
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html
 */
export function backchannelLogout({ config, idp, directory, store, log, now }: BackchannelDeps): Step {
  let keys: { uri: string; get: JWTVerifyGetKey } | undefined;
  // Through the IdP's own transport: with OIDC_CA_FILE or a client certificate, jose's default
  // fetch would not trust the IdP, and every valid logout token would fail as "unreachable".
  const viaIdp: FetchImplementation = (url, init) => idp.fetch(url, { ...init, body: undefined, headers: Object.fromEntries(init.headers) });
  // One remote key set per jwks_uri: jose refetches it for an unknown kid, at most every 30 s.
  const keysFor = (uri: string) => {
    if (keys?.uri !== uri) {
      keys = {
        uri,
        get: createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, timeoutDuration: config.oidc.timeoutSeconds * 1000, [customFetch]: viaIdp }),
      };
    }
    return keys.get;
  };
  const maxAgeSeconds = config.session.backchannelMaxAgeSeconds;
  const toleranceSeconds = config.oidc.clockToleranceSeconds;
  const refuse = (reason: string) =>
    new BffError('invalid_request', { event: 'backchannel.rejected', detail: reason, description: `The logout token was refused: ${reason}.` });

  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (!directory || !store) {
      throw new BffError('backchannel_unavailable', { detail: 'cookie sessions without Redis keep no server state to end' });
    }
    const server = idp.configuration().serverMetadata();
    if (!server.jwks_uri) throw new BffError('idp_error', { detail: 'the IdP metadata has no jwks_uri' });
    if (!ctx.is('application/x-www-form-urlencoded')) throw refuse('body must be application/x-www-form-urlencoded');
    const token = new URLSearchParams(await readBody(ctx.req)).get('logout_token');
    if (!token) throw refuse('logout_token missing');

    let claims;
    try {
      claims = await verifyLogoutToken(token, {
        issuer: server.issuer,
        clientId: config.oidc.clientId,
        keys: keysFor(server.jwks_uri),
        maxAgeSeconds,
        clockToleranceSeconds: toleranceSeconds,
        now,
      });
    } catch (err) {
      if (err instanceof LogoutTokenError) throw refuse(err.reason);
      throw new BffError('idp_unreachable', { detail: "the IdP's JWKS could not be fetched", cause: err });
    }
    // Remembered for longer than a token can be accepted: a replay is refused, not re-applied.
    const replayKey = `j:${createHash('sha256').update(`${server.issuer} ${claims.jti}`).digest('base64url')}`;
    if (!(await store.setIfAbsent(replayKey, '1', (maxAgeSeconds + 2 * toleranceSeconds) * 1000))) throw refuse('jti replayed');

    const match = { ...(claims.sub ? { sub: claims.sub } : {}), ...(claims.sid ? { idpSid: claims.sid } : {}), issuedAt: claims.iat * 1000 };
    let ended: number;
    try {
      ended = await directory.endMatching(match);
    } catch (err) {
      // Not applied: the IdP's retry of this same token must be accepted, not refused as a replay.
      await store.delete(replayKey).catch(() => undefined);
      throw err;
    }
    log.event('backchannel.completed', {
      request_id: ctx.state.requestId,
      ...(claims.sub ? { sub: claims.sub } : {}),
      reason: `${ended} session(s) ended by ${claims.sid ? 'sid' : 'sub'}`,
    });
    ctx.status = 200;
    ctx.body = '';
  };
}

async function readBody(req: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new BffError('invalid_request', { detail: 'back-channel logout body too large' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
