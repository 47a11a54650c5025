import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CustomFetch } from 'openid-client';
import { startIdp, type IdpOptions, type RunningIdp } from '../../dev/idp.js';
import { loadFrontends } from '../../src/config/frontends.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { createFrontendsApp, type FrontendsApp } from '../../src/frontends-app.js';
import { listen, type Listening } from '../../src/http/server.js';
import { freePort } from './free-port.js';
import { CLIENT_SECRET, SECRET } from './harness.js';
import { captureLogs, type LogCapture } from './log-capture.js';
import type { TestRedis } from './redis.js';
import { startEchoUpstream, type EchoUpstream } from './upstream-echo.js';
import { type UserAgent, type UaResponse } from './user-agent.js';

/** One frontend of the test file: where it is served and which of the two IdPs it signs in with. */
export interface FrontendSpec {
  hostname: '127.0.0.1' | 'localhost';
  pathPrefix?: string;
  /** 'both': the frontend offers two providers, `<id>_a` and `<id>_b` (one client per IdP). */
  idp: 'a' | 'b' | 'both';
  /** The client id at the IdP (default: the frontend id); frontends naming one client share it, and its provider entry. */
  client?: string;
  /** Extra fields of the frontend in BFF_CONFIG. */
  fields?: Record<string, unknown>;
  /** Extra fields of its provider entry (client authentication…), and what the IdP registers with its client to match. */
  provider?: { fields: Record<string, unknown>; registration: Record<string, unknown> };
}

export interface Frontends {
  port: number;
  /** Each frontend's base URL: origin + prefix. */
  url: Record<string, string>;
  idps: { a: RunningIdp; b: RunningIdp };
  /** One echo upstream per frontend. */
  upstreams: Record<string, EchoUpstream>;
  service: FrontendsApp;
  configs: Record<string, Config>;
  logs: LogCapture;
  listening: Listening;
  /** The document of every frontend (the first file may hold fewer: options.initially). */
  document: Record<string, unknown>;
  /** The BFF_CONFIG file, and the environment's configuration it was read over. */
  file: string;
  base: Config;
  idpOf(id: string): RunningIdp;
  login(ua: UserAgent, id: string, query?: string): Promise<UaResponse>;
  api(ua: UserAgent, id: string, path: string, init?: { method?: string }): Promise<UaResponse>;
  close(): Promise<void>;
}

/**
 * A BFF serving several frontends from one BFF_CONFIG file on one port, with two real
 * oidc-providers (IdP `a` and IdP `b`, each frontend its own client, client id = frontend id),
 * and an echo upstream per frontend.
 */
export async function startFrontends(
  specs: Record<string, FrontendSpec>,
  options: {
    env?: Record<string, string>;
    redis?: TestRedis;
    /** Ids written to the first file (default all): a reload adds the others. */ initially?: string[];
    /** More options of IdP `a` (mTLS endpoint aliases). */
    idpA?: Partial<IdpOptions>;
    /** More options of IdP `b`. */
    idpB?: Partial<IdpOptions>;
    /** Replaces fetch for every IdP call of every frontend (to record them). */
    idpFetch?: CustomFetch;
  } = {},
): Promise<Frontends> {
  const port = await freePort();
  const url: Record<string, string> = {};
  const origin = (s: FrontendSpec) => `http://${s.hostname}:${port}`;
  for (const [id, s] of Object.entries(specs)) url[id] = origin(s) + (s.pathPrefix ?? '');
  const clientOf = (id: string) => specs[id]!.client ?? id;
  /** The providers of a frontend: [provider id, IdP, callback suffix]. */
  const providersOf = (id: string): Array<[string, 'a' | 'b', string]> => {
    const s = specs[id]!;
    return s.idp === 'both'
      ? [
          [`${id}_a`, 'a', `/${id}_a`],
          [`${id}_b`, 'b', `/${id}_b`],
        ]
      : [[`idp_${clientOf(id)}`, s.idp, '']];
  };
  const clientsOf = (which: 'a' | 'b') => {
    const clients = new Map<
      string,
      { client_id: string; client_secret: string; redirect_uris: string[]; post_logout_redirect_uris: string[]; backchannel_logout_uri: string } & Record<
        string,
        unknown
      >
    >();
    for (const id of Object.keys(specs)) {
      for (const [, idp, suffix] of providersOf(id)) {
        if (idp !== which) continue;
        const c = clients.get(clientOf(id)) ?? {
          client_id: clientOf(id),
          client_secret: CLIENT_SECRET,
          redirect_uris: [],
          post_logout_redirect_uris: [],
          backchannel_logout_uri: `${url[id]}/backchannel-logout${suffix}`,
          ...specs[id]!.provider?.registration,
        };
        c.redirect_uris.push(`${url[id]}/callback${suffix}`);
        c.post_logout_redirect_uris.push(`${url[id]}/logout/callback${suffix}`);
        clients.set(c.client_id, c);
      }
    }
    return [...clients.values()];
  };
  // What has been started, closed in reverse when a later step throws (a BFF_CONFIG that does
  // not load, an IdP not ready): left running, it would keep the run alive instead of failing it.
  const started: Array<() => Promise<void>> = [];
  // After a failed start every piece is closed whatever fails; a normal close reports its first failure.
  const closeStarted = async (afterFailure: boolean) => {
    let failure: unknown;
    for (const close of started.splice(0).reverse()) await close().catch((err: unknown) => (failure ??= err));
    if (failure !== undefined && !afterFailure) throw failure;
  };
  try {
    return await startAll();
  } catch (err) {
    await closeStarted(true);
    throw err;
  }

  async function startAll(): Promise<Frontends> {
    const a = await startIdp({ ...options.idpA, clients: clientsOf('a') });
    started.push(() => a.close());
    const b = await startIdp({ ...options.idpB, clients: clientsOf('b') });
    started.push(() => b.close());
    const idps = { a, b };
    const upstreams: Record<string, EchoUpstream> = {};
    for (const id of Object.keys(specs)) {
      const upstream = await startEchoUpstream();
      started.push(() => upstream.close());
      upstreams[id] = upstream;
    }

    const document = {
      defaults: { sameSite: 'lax' },
      providers: Object.fromEntries(
        Object.keys(specs).flatMap((id) =>
          providersOf(id).map(([pid, idp]) => [
            pid,
            { issuer: idps[idp].issuer, clientId: clientOf(id), clientSecret: CLIENT_SECRET, displayName: `IdP ${idp}`, ...specs[id]!.provider?.fields },
          ]),
        ),
      ),
      frontends: Object.fromEntries(
        Object.entries(specs).map(([id, s]) => [
          id,
          {
            publicUrl: origin(s),
            ...(s.idp === 'both' ? { providers: providersOf(id).map(([pid]) => pid) } : { provider: `idp_${clientOf(id)}` }),
            match: s.pathPrefix ? { pathPrefix: s.pathPrefix } : {},
            apiRoutes: [{ path: '/api', upstream: `${upstreams[id]!.url}/v1` }],
            ...s.fields,
          },
        ]),
      ),
    };
    const file = join(mkdtempSync(join(tmpdir(), 'bff-frontends-')), 'frontends.json');
    const first = options.initially
      ? { ...document, frontends: Object.fromEntries(Object.entries(document.frontends).filter(([id]) => options.initially!.includes(id))) }
      : document;
    writeFileSync(file, JSON.stringify(first, null, 2));
    const env: Record<string, string> = {
      BFF_CONFIG: file,
      OIDC_ALLOW_HTTP: 'true',
      SESSION_STORE: options.redis ? 'redis' : 'memory',
      SESSION_SECRETS: SECRET,
      LOG_LEVEL: 'debug',
      ...(options.redis ? { REDIS_URL: options.redis.url, REDIS_KEY_PREFIX: options.redis.prefix } : {}),
      ...options.env,
    };
    const base = loadConfig(env, () => randomBytes(32).toString('base64url'));
    const list = loadFrontends(base);
    const logs = captureLogs();
    const service = createFrontendsApp(base, list, {
      log: logs.log,
      discoveryRetry: { initialMs: 20, maxMs: 200 },
      ...(options.idpFetch ? { idpFetch: options.idpFetch } : {}),
    });
    started.push(() => service.close());
    const listening = await listen(service.app, '127.0.0.1', port, (status) => service.rejected(`http_${status}`));
    started.push(() => listening.drain(0));
    // Bounded: these waits never fail by themselves, and an IdP or store that never becomes ready
    // must fail the start (and close what it started), not hold the run until mocha's timeout.
    for (const { bff } of service.units) await within(READY_WITHIN_MS, bff.idp.whenReady(), 'an IdP never became ready');
    // Logged by each unit's store; units added by a reload log theirs later.
    if (options.redis) await within(READY_WITHIN_MS, logs.waitFor('store.ready', service.units.length), 'a store never became ready');

    return {
      port,
      url,
      idps,
      upstreams,
      service,
      configs: Object.fromEntries(list.map((c) => [c.frontend!.id, c])),
      logs,
      listening,
      document,
      file,
      base,
      idpOf: (id) => idps[providersOf(id)[0]![1]],
      async login(ua, id, query = '') {
        const { callback } = await ua.login(`${url[id]}/login${query}`, { stopAtOrigin: new URL(url[id]!).origin });
        return callback;
      },
      api(ua, id, path, init = {}) {
        return ua.request(init.method ?? 'GET', `${url[id]}/api${path}`, { headers: { 'x-csrf': '1' } });
      },
      close: () => closeStarted(false),
    };
  }
}

/** A GET with a Host header of the test's choosing (fetch does not let one set Host). */
export function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** How long startFrontends waits for the IdPs and stores it started. */
const READY_WITHIN_MS = 15_000;

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
