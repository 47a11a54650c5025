import { EventEmitter } from 'node:events';
import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { EventLogger } from '../observability/logger.js';
import { errorFields } from '../observability/logger.js';
import { clientAuthentication } from './client-auth.js';
import { introspectionDialect } from './introspection.js';
import { createIdpTransport } from './transport.js';

/** Asymmetric ID token algorithms we accept, in order of preference. HS* and `none` never. */
const ID_TOKEN_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519', 'RS384', 'PS384', 'ES384', 'RS512', 'PS512', 'ES512'];

export interface OidcClientOptions {
  /**
   * Replaces fetch for every IdP call (tests inject faults here; see openid-client's customFetch).
   * With OIDC_CA_FILE or a client certificate its options carry an undici `dispatcher`, which it
   * must pass on to the fetch it calls.
   */
  fetch?: oidc.CustomFetch;
  /** Discovery retry schedule while the IdP is unreachable. */
  retry?: { initialMs: number; maxMs: number };
}

/**
 * The IdP as the routes see it: an openid-client Configuration obtained by discovery.
 * Discovery runs in the background and is retried with capped exponential backoff, so the
 * service starts (and /readyz says 503) while the IdP is down, and becomes ready by itself.
 */
export interface OidcClient {
  isReady(): boolean;
  /** The configuration, or a 503 `idp_not_ready` error while discovery has not succeeded. */
  configuration(): oidc.Configuration;
  /** Resolves once discovery has succeeded. */
  whenReady(): Promise<void>;
  /**
   * The one way to call the IdP: the configured transport (OIDC_CA_FILE, client certificate)
   * and the injected fetch. The Configuration uses it; a call made outside openid-client (the
   * logout-token JWKS) must use it too, or it would not trust a private CA.
   */
  readonly fetch: oidc.CustomFetch;
  close(): void;
}

export function createOidcClient(config: Config, log: EventLogger, options: OidcClientOptions = {}): OidcClient {
  const retry = options.retry ?? { initialMs: 500, maxMs: 30_000 };
  const events = new EventEmitter();
  let current: oidc.Configuration | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const transport = createIdpTransport(config.oidc.tls);
  const plain: oidc.CustomFetch = options.fetch ?? ((url, init) => fetch(url, init as RequestInit));
  // Every IdP call goes through the dialect wrapper; it acts only inside introspect() (introspection.ts).
  const idpFetch = introspectionDialect(transport ? transport.wrap(plain) : plain);

  const attempt = async (n: number): Promise<void> => {
    try {
      current = await discover(config, idpFetch);
      log.event('oidc.discovery_ok', { issuer: config.oidc.issuer.href, attempt: n });
      events.emit('ready');
    } catch (err) {
      if (closed) return;
      const delay = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(n - 1, 16));
      const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
      // Logged at the first failure, then every tenth retry: one outage is a few lines, not a flood.
      if (n === 1 || n % 10 === 0) {
        log.event('oidc.discovery_failed', { issuer: config.oidc.issuer.href, attempt: n, retry_in_ms: jittered, err: errorFields(err, false) });
      }
      timer = setTimeout(() => void attempt(n + 1), jittered);
      timer.unref();
    }
  };
  void attempt(1);

  return {
    isReady: () => current !== undefined,
    configuration() {
      if (!current) throw new BffError('idp_not_ready', { detail: 'OIDC discovery has not succeeded yet' });
      return current;
    },
    whenReady: () => (current ? Promise.resolve() : new Promise((resolve) => events.once('ready', resolve))),
    fetch: idpFetch,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      transport?.close().catch(() => undefined);
    },
  };
}

async function discover(config: Config, customFetch: oidc.CustomFetch): Promise<oidc.Configuration> {
  const { issuer, clientId, timeoutSeconds } = config.oidc;
  const discovered = await oidc.discovery(issuer, clientId, undefined, oidc.None(), {
    timeout: timeoutSeconds,
    [oidc.customFetch]: customFetch,
    ...(config.oidc.allowHttp ? { execute: [oidc.allowInsecureRequests] } : {}),
  });
  const server = discovered.serverMetadata();
  const supported = server.id_token_signing_alg_values_supported ?? ['RS256'];
  const alg = ID_TOKEN_ALGS.find((a) => supported.includes(a));
  if (!alg) {
    throw new Error(`the IdP signs ID tokens only with ${supported.join(', ')}; oidc-bff needs an asymmetric algorithm (RS256, PS256, ES256, EdDSA…)`);
  }
  const client = await clientAuthentication(config.oidc, server);
  // openid-client's own exp / nbf / auth_time checks use the same tolerance as ours (its default is 30 s).
  const metadata = {
    id_token_signed_response_alg: alg,
    ...introspectionMetadata(config, server),
    ...client.metadata,
    [oidc.clockTolerance]: config.oidc.clockToleranceSeconds,
  };
  const configuration = new oidc.Configuration({ ...server }, clientId, metadata, client.auth);
  configuration.timeout = timeoutSeconds;
  configuration[oidc.customFetch] = customFetch;
  if (config.oidc.allowHttp) oidc.allowInsecureRequests(configuration);
  // Verify ID token signatures against the IdP's JWKS even though they arrive over TLS.
  oidc.enableNonRepudiationChecks(configuration);
  return configuration;
}

/**
 * RFC 9701: with this client metadata openid-client asks for a signed introspection response
 * (Accept: application/token-introspection+jwt) and verifies it, its signature against the
 * IdP's JWKS (non-repudiation checks are on). Only for the dialect that uses it.
 */
function introspectionMetadata(config: Config, server: oidc.ServerMetadata): { introspection_signed_response_alg?: string } {
  if (config.oidc.introspection.dialect !== 'token-introspection+jwt' || !server.introspection_endpoint) return {};
  const supported = server.introspection_signing_alg_values_supported ?? ['RS256'];
  const alg = ID_TOKEN_ALGS.find((a) => supported.includes(a));
  return alg ? { introspection_signed_response_alg: alg } : {};
}
