import { createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { AssertionRefused, createAssertionVerifier } from './client-assertion.js';
import type { EventLogger } from '../observability/logger.js';
import type { KeyValueStore } from '../store/store.js';
import type { RouteTokens } from '../tokens/route-tokens.js';
import { sameSecret } from '../web/constant-time.js';
import type { Step } from '../web/context.js';

const MAX_BODY = 8192;

export interface HandleIntrospectionDeps {
  config: Config;
  log: EventLogger;
  routeTokens: Pick<RouteTokens, 'resolveHandle'>;
  /** The shared store (or this process's without one): the used `jti`s of client assertions. */
  replayStore: Pick<KeyValueStore, 'setIfAbsent'>;
  now: () => number;
}

/**
 * The gateway client of an HTTP Basic header (RFC 6749 2.3.1: id and secret form-encoded), or
 * undefined. Every listed secret is compared in constant time, so the answer's timing does not
 * tell which ids exist.
 */
export function basicClient(header: string | undefined, clients: ReadonlyArray<{ id: string; secret: string }>): string | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]{1,1024})$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  let id: string;
  let secret: string;
  try {
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
  let found: string | undefined;
  for (const client of clients) if (sameSecret(secret, client.secret) && client.id === id) found = client.id;
  return found;
}

async function readForm(req: AsyncIterable<Buffer>): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new BffError('invalid_request', { detail: 'introspection body too large' });
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * RFC 7662 introspection of the handles that `handle` routes send upstream, for the gateway
 * clients of GATEWAY_CLIENTS (HTTP Basic) and GATEWAY_CLIENT_KEYS (private_key_jwt). By `Accept`:
 * - `application/json` (default): the RFC 7662 answer, with a `jwt` member when the token is one;
 * - `application/jwt`: the token itself as the body, 204 when inactive (the dialect of Curity's
 *   nginx module and Lua plugin, which forward the body upstream).
 * `Cache-Control: max-age` = seconds until the token's expiry minus TOKEN_REFRESH_SKEW, so a
 * gateway cache never serves a token longer than the BFF would; `no-store` when inactive.
 */
export function handleIntrospection({ config, log, routeTokens, replayStore, now }: HandleIntrospectionDeps): Step {
  const skew = config.session.refreshSkewMs;
  const verifyAssertion = createAssertionVerifier({ config, store: replayStore, now });
  const refuse = (ctx: Parameters<Step>[0], detail: string) => {
    ctx.set('WWW-Authenticate', 'Basic realm="oidc-bff"');
    return new BffError('invalid_client', { event: 'gateway.introspection_refused', detail });
  };

  /**
   * The gateway client: HTTP Basic (GATEWAY_CLIENTS) or a client assertion (GATEWAY_CLIENT_KEYS),
   * each only for the clients registered for it, and never both in one request (RFC 6749 2.3).
   */
  const authenticate = async (ctx: Parameters<Step>[0], form: URLSearchParams | undefined): Promise<string> => {
    const header = ctx.get('authorization') || undefined;
    const assertion = form?.has('client_assertion') || form?.has('client_assertion_type');
    if (header && assertion) throw refuse(ctx, 'more than one client authentication method (Basic and a client assertion)');
    if (assertion) {
      try {
        return await verifyAssertion(form!);
      } catch (err) {
        if (err instanceof AssertionRefused) throw refuse(ctx, `client assertion refused: ${err.message}`);
        throw err;
      }
    }
    const client = basicClient(header, config.gatewayIntrospection.clients);
    if (!client) throw refuse(ctx, 'missing or wrong gateway client credentials');
    return client;
  };

  return async (ctx) => {
    // A client assertion travels in the body: read it (bounded) before authenticating.
    const form = ctx.is('application/x-www-form-urlencoded') ? await readForm(ctx.req) : undefined;
    const client = await authenticate(ctx, form);
    if (!form) throw new BffError('invalid_request', { detail: 'body must be application/x-www-form-urlencoded' });
    const handle = form.get('token');
    if (!handle) throw new BffError('invalid_request', { detail: 'token is missing' });
    const signer = config.gatewayIntrospection.signingKey;
    const accepted = ctx.accepts('application/json', 'application/jwt', ...(signer ? [SIGNED] : []));
    const wantsJwt = accepted === 'application/jwt';
    ctx.vary('Accept');
    const resolved = await routeTokens.resolveHandle(handle, client);
    const maxAge = resolved.active ? Math.floor((resolved.expiresAt - skew - now()) / 1000) : 0;
    // A token within the skew of its expiry is not handed out: the BFF would not send it either.
    const answer = resolved.active && maxAge <= 0 ? { active: false as const, reason: 'token within the skew of its expiry' } : resolved;
    log.event('gateway.introspection', {
      gateway_client: client,
      active: answer.active,
      ...(answer.active ? { route: answer.route } : { reason: answer.reason }),
    });
    if (!answer.active) {
      ctx.set('Cache-Control', 'no-store');
      if (wantsJwt) ctx.status = 204;
      else if (accepted === SIGNED) await signed(ctx, { active: false }, client);
      else ctx.body = { active: false };
      return;
    }
    ctx.set('Cache-Control', `max-age=${maxAge}`);
    if (wantsJwt) {
      ctx.type = answer.isJwt ? 'application/jwt' : 'text/plain';
      ctx.body = answer.token;
      return;
    }
    const claims = {
      active: true,
      sub: answer.sub,
      client_id: config.oidc.clientId,
      iss: config.oidc.issuer.href.replace(/\/$/, ''),
      token_type: 'Bearer',
      exp: Math.floor(answer.expiresAt / 1000),
      ...(answer.scope ? { scope: answer.scope } : {}),
      ...(answer.isJwt ? { jwt: answer.token } : {}),
    };
    if (accepted === SIGNED) await signed(ctx, claims, client);
    else ctx.body = claims;
  };

  /** RFC 9701 5: the answer as the `token_introspection` claim of a JWT signed by the BFF's key, for this gateway client. */
  async function signed(ctx: Parameters<Step>[0], answer: object, client: string): Promise<void> {
    const key = config.gatewayIntrospection.signingKey!;
    ctx.type = SIGNED;
    ctx.body = await new SignJWT({ token_introspection: answer })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'token-introspection+jwt' })
      .setIssuer(config.publicOrigin)
      .setAudience(client)
      .setIssuedAt(Math.floor(now() / 1000))
      .sign(key.file.keyObject());
  }
}

const SIGNED = 'application/token-introspection+jwt';

/** The public half of GATEWAY_SIGNING_KEY_FILE as a JWKS, for gateways that verify RFC 9701 answers. */
export function gatewayJwks(config: Config): Step | undefined {
  const key = config.gatewayIntrospection.signingKey;
  if (!key) return undefined;
  const jwk = { ...createPublicKey(key.file.keyObject()).export({ format: 'jwk' }), kid: key.kid, alg: key.alg, use: 'sig' };
  return async (ctx) => {
    ctx.set('Cache-Control', 'max-age=300');
    ctx.body = { keys: [jwk] };
  };
}
