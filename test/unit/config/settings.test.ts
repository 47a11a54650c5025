import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { SETTINGS, type SettingName } from '../../../src/config/settings.js';
import { createTestPki, writeClientKey, type TestPki } from '../../support/certs.js';
import { randomSecret as random, VALID_ENV as VALID } from './config-fixture.js';

const NAMES: readonly string[] = SETTINGS.map((s) => s.name);
const SRC = new URL('../../../src/', import.meta.url);

/** A setting written in one row: its variable is read, parsed, documented and assembled from that row alone. */
describe('settings: one row per variable (src/config/settings.ts)', () => {
  it('gives every row a unique name, a one-line doc and a group, with the rows of a group adjacent', () => {
    assert.equal(new Set(NAMES).size, NAMES.length, 'duplicate names');
    for (const s of SETTINGS) {
      assert.match(s.name, /^[A-Z][A-Z0-9_]*$/, s.name);
      assert.ok(s.doc.trim() && !s.doc.includes('\n'), `${s.name}: doc must be one line`);
      assert.ok(s.group.trim(), `${s.name}: no group`);
    }
    const runs = SETTINGS.map((s) => s.group).filter((g, i, all) => g !== all[i - 1]);
    assert.deepEqual(runs, [...new Set(runs)], 'a group is split by another group');
  });

  it("parses every row's default with the row's own parser; an empty default is accepted or refused by name", () => {
    for (const s of SETTINGS) {
      const parsed = s.parse(s.name).safeParse(s.default);
      if (s.default) assert.ok(parsed.success, `${s.name}: default "${s.default}" does not parse: ${parsed.error?.message}`);
      else if (!parsed.success)
        assert.ok(
          parsed.error.issues.every((i) => i.message.includes(s.name)),
          `${s.name}: ${parsed.error.message}`,
        );
    }
  });

  it('lists every row in .env.example, in order, with its doc line and default', () => {
    const lines = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8').split('\n');
    const assignments = lines.flatMap((line, i) => (/^[A-Z][A-Z0-9_]*=/.test(line) ? [{ line, doc: lines[i - 1] }] : []));
    assert.deepEqual(
      assignments.map((a) => a.line.slice(0, a.line.indexOf('='))),
      NAMES,
    );
    SETTINGS.forEach((s, i) => {
      assert.equal(assignments[i]!.line, `${s.name}=${s.default}`);
      assert.equal(assignments[i]!.doc, `# ${s.doc}`);
    });
  });

  it('reads exactly the variables that have a row, one by one, never the whole environment', () => {
    const read = new Set<string>();
    let enumerated = false;
    const env = new Proxy<Record<string, string | undefined>>(
      { ...VALID, UNRELATED_SECRET: 'not ours' },
      {
        get: (target, key) => (typeof key === 'string' && read.add(key), Reflect.get(target, key)),
        has: (target, key) => (typeof key === 'string' && read.add(key), Reflect.has(target, key)),
        ownKeys: (target) => ((enumerated = true), Reflect.ownKeys(target)),
      },
    );
    loadConfig(env, random);
    assert.equal(enumerated, false, 'loadConfig enumerated the environment');
    assert.deepEqual(
      [...read].filter((k) => !NAMES.includes(k)),
      [],
      'read without a row',
    );
    assert.deepEqual(
      NAMES.filter((k) => !read.has(k)),
      [],
      'a row whose variable is never read',
    );
  });

  it('leaves process.env to src/main.ts, which hands it to loadConfig', () => {
    const files = (dir: URL): URL[] =>
      readdirSync(dir).flatMap((name) => {
        const url = new URL(name, dir);
        return statSync(url).isDirectory() ? files(new URL(`${name}/`, dir)) : name.endsWith('.ts') ? [url] : [];
      });
    const uses = files(SRC).flatMap((url) => {
      const code = readFileSync(url, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''); // comments may mention it
      return [...code.matchAll(/[\w.]*\(?process\.env\b/g)].map((m) => `${url.pathname.slice(SRC.pathname.length)}: ${m[0]}`);
    });
    assert.deepEqual(uses, ['main.ts: loadConfig(process.env']);
  });

  describe('every row reaches the Config', () => {
    let pki: TestPki;
    /** Per variable: a value other than its default, and what else must be set for both to load. */
    let change: Record<SettingName, { to: string; given?: Record<string, string> }>;

    before(() => {
      pki = createTestPki();
      const keyA = writeClientKey(pki.dir, 'key-a', { type: 'ec', curve: 'P-256' }, 'jwk').path;
      const keyB = writeClientKey(pki.dir, 'key-b', { type: 'ec', curve: 'P-256' }, 'jwk').path;
      const gatewayPublicKey = join(pki.dir, 'gateway-public.jwks.json');
      writeFileSync(gatewayPublicKey, JSON.stringify({ keys: [writeClientKey(pki.dir, 'key-c', { type: 'ec', curve: 'P-256' }, 'jwk').publicJwk] }));
      const jwt = { OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: keyA };
      const mtls = { OIDC_CLIENT_CERT_FILE: pki.client.certPath, OIDC_CLIENT_CERT_KEY_FILE: pki.client.keyPath };
      const chain = join(pki.dir, 'client-chain.pem');
      writeFileSync(chain, pki.client.cert + pki.ca.cert);
      const sameKey = join(pki.dir, 'client-key-copy.pem');
      copyFileSync(pki.client.keyPath, sameKey);
      const routes = join(pki.dir, 'routes.json');
      writeFileSync(routes, JSON.stringify({ routes: [{ path: '/api/orders', upstream: 'https://orders.internal' }] }));
      const sentinel = { REDIS_URL: '', REDIS_SENTINELS: 'sentinel:26379' };
      const cluster = { REDIS_URL: '', REDIS_CLUSTER_NODES: 'node:7000' };
      const sdk = { FUSIONAUTH_SDK: 'true', FUSIONAUTH_SDK_REDIRECT_URIS: 'https://app.example.test/' };
      change = {
        PUBLIC_URL: { to: 'https://other.example.test' },
        BFF_CONFIG: { to: '/etc/oidc-bff/frontends.yaml' },
        OIDC_ISSUER: { to: 'https://other-idp.example.test' },
        OIDC_CLIENT_ID: { to: 'other-client' },
        OIDC_CLIENT_SECRET: { to: 'other-secret' },
        OIDC_CLIENT_AUTH: { to: 'client_secret_post' },
        OIDC_CLIENT_KEY_FILE: { to: keyB, given: jwt },
        OIDC_CLIENT_KEY_ID: { to: 'kid-2', given: jwt },
        OIDC_CLIENT_ASSERTION_AUDIENCE: { to: 'token_endpoint', given: jwt },
        OIDC_CLIENT_CERT_FILE: { to: chain, given: mtls },
        OIDC_CLIENT_CERT_KEY_FILE: { to: sameKey, given: mtls },
        OIDC_CA_FILE: { to: pki.ca.certPath },
        OIDC_SCOPES: { to: 'openid email' },
        OIDC_AUTH_PARAMS: { to: 'audience=https://api.example.test' },
        OIDC_USE_PAR: { to: 'false' },
        OIDC_ALLOW_HTTP: { to: 'true' },
        OIDC_TIMEOUT: { to: '5' },
        OIDC_CLOCK_TOLERANCE: { to: '5' },
        OIDC_ID_TOKEN_MAX_AGE: { to: '60' },
        OIDC_DPOP: { to: 'true' },
        OIDC_INTROSPECTION_DIALECT: { to: 'jwt' },
        API_UPSTREAM: { to: 'http://other-api.internal/v2' },
        API_ROUTES: { to: routes },
        API_MAX_BODY: { to: '1000' },
        API_MAX_CONCURRENCY: { to: '10' },
        API_MAX_CONCURRENCY_PER_CLIENT: { to: '5' },
        API_TIMEOUT: { to: '5' },
        API_UPSTREAM_CONNECTIONS: { to: '100' },
        API_UPSTREAM_CONNECTIONS_PER_CLIENT: { to: '8' },
        API_BODY_IDLE_TIMEOUT: { to: '5' },
        API_WRITE_IDLE_TIMEOUT: { to: '5' },
        SESSION_STORE: { to: 'cookie' },
        REDIS_URL: { to: 'rediss://redis.internal:6380' },
        REDIS_SENTINELS: { to: 'sentinel:26379', given: { REDIS_URL: '' } },
        REDIS_SENTINEL_NAME: { to: 'other', given: sentinel },
        REDIS_CLUSTER_NODES: { to: 'node:7000', given: { REDIS_URL: '' } },
        REDIS_PASSWORD: { to: 'pw', given: cluster },
        REDIS_TLS: { to: 'true', given: cluster },
        REDIS_KEY_PREFIX: { to: 'other:' },
        SESSION_SECRETS: { to: `${VALID.SESSION_SECRETS},${'s'.repeat(40)}` },
        SESSION_IDLE_TIMEOUT: { to: '600' },
        SESSION_MAX_AGE: { to: '3600' },
        SESSION_CACHE_MAX_STALE: { to: '0' },
        SESSION_CACHE_ENTRIES: { to: '10' },
        SESSION_COOKIE_NAME: { to: 'other' },
        SESSION_COOKIE_BUDGET: { to: '5000' },
        SESSION_COOKIE_SAMESITE: { to: 'strict' },
        SESSION_CLAIMS: { to: 'sub' },
        TOKEN_REFRESH_SKEW: { to: '5' },
        TOKEN_REFRESH_WAIT: { to: '5' },
        TOKEN_REFRESH_GRACE: { to: '5' },
        POST_LOGOUT_REDIRECT_URI: { to: 'https://app.example.test/bye' },
        ALLOWED_RETURN_TO_ORIGINS: { to: 'https://other.example.test' },
        LOGIN_PATH: { to: '/sign-in' },
        CALLBACK_PATH: { to: '/sign-in/back' },
        SESSION_PATH: { to: '/me' },
        REFRESH_PATH: { to: '/renew' },
        LOGOUT_PATH: { to: '/sign-out' },
        LOGOUT_CALLBACK_PATH: { to: '/sign-out/back' },
        BACKCHANNEL_LOGOUT_PATH: { to: '/bcl' },
        BACKCHANNEL_LOGOUT_MAX_AGE: { to: '60' },
        API_PATH: { to: '/apis' },
        GATEWAY_INTROSPECTION_PATH: { to: '/gateway/introspect' },
        GATEWAY_CLIENTS: { to: 'orders-gateway:a-gateway-secret-that-is-long-enough-0123' },
        GATEWAY_CLIENT_KEYS: { to: `orders-jwt-gateway:${gatewayPublicKey}` },
        GATEWAY_SIGNING_KEY_FILE: { to: keyA },
        GATEWAY_INTROSPECTION_RATE_LIMIT: { to: '10' },
        FORWARD_AUTH_PATH: { to: '/auth' },
        FORWARD_AUTH_TRUSTED_IPS: { to: '10.0.0.0/8' },
        FORWARD_AUTH_IDENTITY_HEADERS: { to: 'true' },
        FORWARD_AUTH_CACHE_MAX_AGE: { to: '60' },
        FUSIONAUTH_SDK: { to: 'true', given: { FUSIONAUTH_SDK_REDIRECT_URIS: 'https://app.example.test/' } },
        FUSIONAUTH_SDK_CLIENT_ID: { to: 'spa-client', given: sdk },
        FUSIONAUTH_SDK_REDIRECT_URIS: { to: 'https://other-app.example.test/', given: sdk },
        FUSIONAUTH_SDK_ORIGINS: { to: 'https://spa.example.test', given: sdk },
        FUSIONAUTH_SDK_REGISTER_PARAMS: { to: 'screen_hint=signup', given: sdk },
        FUSIONAUTH_SDK_ACCOUNT_URL: { to: 'https://idp.example.test/account', given: sdk },
        FUSIONAUTH_SDK_PATH_PREFIX: { to: '/bff', given: sdk },
        FUSIONAUTH_SDK_EXPIRY_COOKIE: { to: 'app.session_exp', given: sdk },
        RATE_LIMIT_PER_MINUTE: { to: '10' },
        LOGIN_MAX_PENDING_PER_CLIENT: { to: '10' },
        HOST: { to: '127.0.0.1' },
        PORT: { to: '3001' },
        ADMIN_PORT: { to: '9091' },
        ADMIN_HOST: { to: '0.0.0.0' },
        ADMIN_TOKEN: { to: 'a'.repeat(40) },
        TRUST_PROXY: { to: 'true' },
        SHUTDOWN_TIMEOUT: { to: '5' },
        HEAP_GROWTH_PERCENT: { to: '20' },
        LOG_LEVEL: { to: 'debug' },
        OTEL_EXPORTER_OTLP_ENDPOINT: { to: 'http://collector:4318' },
        OTEL_SERVICE_NAME: { to: 'other' },
      };
    });
    after(() => pki.cleanup());

    it('changes the loaded Config when any one variable changes, the rest held', () => {
      assert.deepEqual(Object.keys(change), NAMES, 'every row needs an entry here');
      const load = (env: Record<string, string>) => JSON.stringify(loadConfig({ ...VALID, ...env }, random));
      const unchanged = SETTINGS.filter((s) => {
        const { to, given = {} } = change[s.name];
        assert.notEqual(to, given[s.name] ?? VALID[s.name] ?? s.default, `${s.name}: the change must change the value`);
        return load(given) === load({ ...given, [s.name]: to });
      }).map((s) => s.name);
      assert.deepEqual(unchanged, [], 'parsed but never assembled into the Config');
    });
  });
});
