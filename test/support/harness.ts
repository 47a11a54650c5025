import { randomBytes } from 'node:crypto';
import type { CustomFetch } from 'openid-client';
import { startIdp, type IdpClient, type IdpOptions, type RunningIdp } from '../../dev/idp.js';
import { createApp, type BffApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { listen, type Listening } from '../../src/http/server.js';
import { startTracing } from '../../src/observability/otel.js';
import type { Step } from '../../src/web/context.js';
import type { SessionStore } from '../../src/store/store.js';
import { freePort } from './free-port.js';
import { captureLogs, type LogCapture } from './log-capture.js';
import type { TestRedis } from './redis.js';
import { startEchoUpstream, type EchoUpstream } from './upstream-echo.js';
import { UserAgent, type UaResponse } from './user-agent.js';

export const CLIENT_ID = 'spa-bff';
export const CLIENT_SECRET = 'a-test-client-secret-that-is-long-enough';
export const SECRET = 'test-session-secret-0123456789-abcdefghijklmnop';

export interface HarnessOptions {
  /** Extra or overriding environment for the BFF; a function gets the BFF's URL (for settings naming it). */
  env?: Record<string, string> | ((url: string) => Record<string, string>);
  redis?: TestRedis;
  idp?: Partial<IdpOptions>;
  /** Reuse an IdP (and its upstream) started by another harness: two BFF instances, one IdP. */
  shareWith?: Harness;
  store?: SessionStore;
  idpFetch?: CustomFetch;
  now?: () => number;
  /** Extra routes after the BFF's own (a test page for the browser test). */
  extra?: Step;
  /** A Redis topology given as configuration (REDIS_SENTINELS, REDIS_CLUSTER_NODES…): the store is awaited before use. */
  redisEnv?: Record<string, string>;
  /** Registers PUBLIC_URL + /backchannel-logout at the IdP, so its logouts reach the BFF. */
  backchannel?: boolean;
  /** Host name in PUBLIC_URL (default 127.0.0.1; the browser test uses localhost so IdP and BFF cookies stay apart). */
  hostname?: string;
  /** Overrides metadata of the registered client (token_endpoint_auth_method, jwks, tls_client_auth_subject_dn…). */
  client?: Partial<IdpClient>;
}

/**
 * One BFF instance listening on 127.0.0.1, with a real oidc-provider, an echo upstream and a
 * log capture: everything a flow test needs, all real, all on loopback.
 */
export interface Harness {
  url: string;
  config: Config;
  idp: RunningIdp;
  upstream: EchoUpstream;
  bff: BffApp;
  logs: LogCapture;
  listening: Listening;
  browser(): UserAgent;
  /** Logs `ua` in through the IdP; returns the BFF's /callback response. */
  login(ua: UserAgent, query?: string, username?: string): Promise<UaResponse>;
  /** GET/POST on an /api path with the anti-CSRF header. */
  api(ua: UserAgent, path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<UaResponse>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const port = await freePort();
  const url = `http://${options.hostname ?? '127.0.0.1'}:${port}`;
  const shared = options.shareWith;
  const redirectUris = [`${url}/callback`];
  const idp =
    shared?.idp ??
    (await startIdp({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: redirectUris,
          post_logout_redirect_uris: [`${url}/logout/callback`],
          ...(options.backchannel ? { backchannel_logout_uri: `${url}/backchannel-logout` } : {}),
          ...options.client,
        },
      ],
      ...options.idp,
    }));
  const upstream = shared?.upstream ?? (await startEchoUpstream({ setCookieNames: ['bff-session', 'bff-login', '__Host-bff-session'] }));
  const env: Record<string, string> = {
    PUBLIC_URL: url,
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_ALLOW_HTTP: 'true',
    API_UPSTREAM: `${upstream.url}/v1`,
    SESSION_STORE: options.redis ? 'redis' : 'memory',
    SESSION_SECRETS: SECRET,
    LOG_LEVEL: 'debug',
    ...(options.redis ? { REDIS_URL: options.redis.url, REDIS_KEY_PREFIX: options.redis.prefix } : {}),
    ...(options.redisEnv ? { SESSION_STORE: 'redis', ...options.redisEnv } : {}),
    ...(typeof options.env === 'function' ? options.env(url) : options.env),
  };
  const config = loadConfig(env, () => randomBytes(32).toString('base64url'));
  const logs = captureLogs();
  const bff = createApp(config, {
    log: logs.log,
    tracing: await startTracing(config, logs.log),
    discoveryRetry: { initialMs: 20, maxMs: 200 },
    ...(options.store ? { store: options.store } : {}),
    ...(options.idpFetch ? { idpFetch: options.idpFetch } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.extra ? { extra: options.extra } : {}),
  });
  const listening = await listen(bff.app, '127.0.0.1', port, (status) => bff.metrics.rejected(`http_${status}`));
  await bff.idp.whenReady();
  if (options.redis || options.redisEnv) await logs.waitFor('store.ready');

  const harness: Harness = {
    url,
    config,
    idp,
    upstream,
    bff,
    logs,
    listening,
    browser: () => new UserAgent(),
    async login(ua, query = '', username) {
      const { callback } = await ua.login(`${url}/login${query}`, { ...(username ? { username } : {}), stopAtOrigin: url });
      return callback;
    },
    api(ua, path, init = {}) {
      return ua.request(init.method ?? 'GET', `${url}/api${path}`, {
        headers: { 'x-csrf': '1', ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
      });
    },
    async close() {
      await listening.drain(0);
      await bff.close();
      if (!shared) {
        await idp.close();
        await upstream.close();
      }
    },
  };
  return harness;
}

/** Gives instance `to` the browser's cookies for instance `from`: one site behind a load balancer. */
export function shareCookies(ua: UserAgent, from: Harness, to: Harness): void {
  for (const pair of ua.cookieHeader(new URL(from.url).host).split('; ').filter(Boolean)) {
    const eq = pair.indexOf('=');
    ua.setCookie(new URL(to.url).host, pair.slice(0, eq), pair.slice(eq + 1));
  }
}
