import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadConfig } from '../../../src/config/load.js';
import { problemsOf, randomSecret as random, VALID_ENV as VALID } from './config-fixture.js';

const SECRET = VALID.SESSION_SECRETS!;

describe('configuration: parsed once, every problem reported at once', () => {
  it('parses a valid environment into typed values with the documented defaults', () => {
    const c = loadConfig(VALID, random);
    assert.equal(c.session.store, 'redis');
    assert.equal(c.oidc.redirectUri, 'https://app.example.test/callback');
    assert.equal(c.oidc.scopes, 'openid profile email offline_access');
    assert.equal(c.oidc.clientAuth, 'client_secret_basic');
    assert.equal(c.session.refreshSkewMs, 30_000);
    assert.equal(c.secure, true);
    assert.deepEqual(c.server.trustProxy, { hops: 0 });
    assert.equal(c.oidc.postLogoutRedirectUri, 'https://app.example.test/');
  });

  it('has one clock tolerance and an ID token age bound, and the post-logout return route, with their defaults', () => {
    const c = loadConfig(VALID, random);
    assert.equal(c.oidc.clockToleranceSeconds, 60);
    assert.equal(c.oidc.idTokenMaxAgeSeconds, 600);
    assert.equal(c.oidc.logoutCallbackUri, 'https://app.example.test/logout/callback');
    const tuned = loadConfig({ ...VALID, OIDC_CLOCK_TOLERANCE: '2m', OIDC_ID_TOKEN_MAX_AGE: '300', LOGOUT_CALLBACK_PATH: '/bye/back' }, random);
    assert.equal(tuned.oidc.clockToleranceSeconds, 120);
    assert.equal(tuned.oidc.idTokenMaxAgeSeconds, 300);
    assert.equal(tuned.oidc.logoutCallbackUri, 'https://app.example.test/bye/back');
  });

  it('refuses a post-logout setup that would loop or collide, and a non-numeric max_age in OIDC_AUTH_PARAMS', () => {
    assert.ok(problemsOf({ ...VALID, LOGOUT_CALLBACK_PATH: '/logout' }).some((p) => p.includes('must differ')));
    assert.ok(problemsOf({ ...VALID, POST_LOGOUT_REDIRECT_URI: 'https://app.example.test/logout/callback' }).some((p) => p.includes('LOGOUT_CALLBACK_PATH')));
    assert.ok(problemsOf({ ...VALID, OIDC_AUTH_PARAMS: 'max_age=soon' }).some((p) => p.includes('max_age')));
    assert.ok(problemsOf({ ...VALID, OIDC_CLOCK_TOLERANCE: '-5' }).some((p) => p.includes('OIDC_CLOCK_TOLERANCE')));
  });

  it('takes HEAP_GROWTH_PERCENT from 0 to 300 (V8 grows the old generation 4× at most on its own) and names it when refusing more or less', () => {
    assert.equal(loadConfig({ ...VALID, HEAP_GROWTH_PERCENT: '300' }, random).memory.heapGrowthPercent, 300);
    for (const bad of ['301', '-1']) {
      assert.ok(
        problemsOf({ ...VALID, HEAP_GROWTH_PERCENT: bad }).some(
          (p) => p.includes('HEAP_GROWTH_PERCENT must be a whole number from 0 to 300') && p.includes(`"${bad}"`),
        ),
        bad,
      );
    }
  });

  it('is frozen all the way down', () => {
    const c = loadConfig(VALID, random);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.session) && Object.isFrozen(c.session.secrets));
  });

  it('lists every field problem in one error', () => {
    const problems = problemsOf({ ...VALID, PUBLIC_URL: 'not a url', PORT: 'eighty', SESSION_SECRETS: 'short', LOG_LEVEL: 'loud', OIDC_CLIENT_ID: '' });
    for (const name of ['PUBLIC_URL', 'PORT', 'SESSION_SECRETS', 'LOG_LEVEL', 'OIDC_CLIENT_ID']) {
      assert.ok(
        problems.some((p) => p.includes(name)),
        `${name} missing from ${JSON.stringify(problems)}`,
      );
    }
  });

  it('refuses an http:// issuer unless OIDC_ALLOW_HTTP=true', () => {
    assert.ok(problemsOf({ ...VALID, OIDC_ISSUER: 'http://idp.example.test' }).some((p) => p.includes('OIDC_ALLOW_HTTP')));
    const c = loadConfig({ ...VALID, OIDC_ISSUER: 'http://idp.example.test', OIDC_ALLOW_HTTP: 'true' }, random);
    assert.ok(c.warnings.some((w) => w.includes('OIDC_ALLOW_HTTP')));
  });

  it('requires SESSION_SECRETS for the redis store and refuses short secrets with a hint', () => {
    assert.ok(problemsOf({ ...VALID, SESSION_SECRETS: '' }).some((p) => p.includes('SESSION_SECRETS is required')));
    assert.ok(problemsOf({ ...VALID, SESSION_SECRETS: `${SECRET},tooshort` }).some((p) => p.includes('#2') && p.includes('openssl rand')));
  });

  it('defaults to the memory store with loud warnings when no REDIS_URL is given', () => {
    const c = loadConfig({ ...VALID, REDIS_URL: '', SESSION_SECRETS: '' }, random);
    assert.equal(c.session.store, 'memory');
    assert.deepEqual(c.session.secrets, [random()]);
    assert.ok(c.warnings.some((w) => w.includes('SESSION_STORE=memory')));
    assert.ok(c.warnings.some((w) => w.includes('random secret')));
  });

  it('warns once that cookie sessions without Redis keep refresh single flight and logouts in one process', () => {
    const alone = loadConfig({ ...VALID, SESSION_STORE: 'cookie', REDIS_URL: '' }, random).warnings.filter((w) => w.includes('SESSION_STORE=cookie'));
    assert.equal(alone.length, 1);
    assert.match(alone[0]!, /REDIS_URL, sticky sessions, or the IdP's refresh-token reuse grace period/);
    assert.deepEqual(
      loadConfig({ ...VALID, SESSION_STORE: 'cookie' }, random).warnings.filter((w) => w.includes('SESSION_STORE=cookie')),
      [],
    );
  });

  it('refuses an http:// PUBLIC_URL except on loopback or with OIDC_ALLOW_HTTP=true', () => {
    assert.ok(problemsOf({ ...VALID, PUBLIC_URL: 'http://app.example.test' }).some((p) => p.includes('PUBLIC_URL is http://')));
    assert.equal(loadConfig({ ...VALID, PUBLIC_URL: 'http://127.0.0.1:3000' }, random).secure, false);
    assert.equal(loadConfig({ ...VALID, PUBLIC_URL: 'http://localhost:3000' }, random).secure, false);
    assert.equal(
      loadConfig({ ...VALID, PUBLIC_URL: 'http://app.example.test', OIDC_ALLOW_HTTP: 'true', OIDC_ISSUER: 'https://idp.example.test' }, random).secure,
      false,
    );
  });

  it('selects the Redis topology from REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, one at a time', () => {
    const sentinel = loadConfig({ ...VALID, REDIS_URL: '', REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379', REDIS_SENTINEL_NAME: 'bff' }, random);
    assert.deepEqual(sentinel.redis.connection, {
      kind: 'sentinel',
      nodes: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
      ],
      name: 'bff',
      password: undefined,
      tls: false,
    });
    assert.equal(sentinel.session.store, 'redis');
    const cluster = loadConfig({ ...VALID, REDIS_URL: '', REDIS_CLUSTER_NODES: 'r1:7000', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' }, random);
    assert.deepEqual(cluster.redis.connection, { kind: 'cluster', nodes: [{ host: 'r1', port: 7000 }], password: 'pw', tls: true });
    assert.ok(problemsOf({ ...VALID, REDIS_CLUSTER_NODES: 'r1:7000' }).some((p) => p.includes('only one of')));
    assert.ok(problemsOf({ ...VALID, REDIS_URL: '', REDIS_SENTINELS: 'nohost' }).some((p) => p.includes('REDIS_SENTINELS')));
  });

  it('refuses a PUBLIC_URL with a path (the __Host- cookie prefix needs Path=/)', () => {
    assert.ok(problemsOf({ ...VALID, PUBLIC_URL: 'https://app.example.test/bff' }).some((p) => p.includes('PUBLIC_URL')));
  });

  it('refuses SameSite=None, a client secret missing for a confidential client, and clashing paths', () => {
    const problems = problemsOf({ ...VALID, SESSION_COOKIE_SAMESITE: 'none' });
    assert.ok(problems.some((p) => p.includes('SESSION_COOKIE_SAMESITE')));
    assert.ok(problemsOf({ ...VALID, OIDC_CLIENT_SECRET: '' }).some((p) => p.includes('OIDC_CLIENT_SECRET')));
    assert.ok(problemsOf({ ...VALID, LOGOUT_PATH: '/login' }).some((p) => p.includes('must differ')));
  });

  it('accepts durations with units and treats an empty variable as unset', () => {
    const c = loadConfig({ ...VALID, SESSION_IDLE_TIMEOUT: '15m', SESSION_MAX_AGE: '1d', PORT: '' }, random);
    assert.equal(c.session.idleTimeoutMs, 15 * 60_000);
    assert.equal(c.session.maxAgeMs, 86_400_000);
    assert.equal(c.server.port, 3000);
  });

  it('takes TRUST_PROXY as true, a hop count, or a list of trusted proxy addresses and CIDR blocks', () => {
    assert.deepEqual(loadConfig({ ...VALID, TRUST_PROXY: 'true' }, random).server.trustProxy, { hops: 1 });
    assert.deepEqual(loadConfig({ ...VALID, TRUST_PROXY: '2' }, random).server.trustProxy, { hops: 2 });
    assert.deepEqual(loadConfig({ ...VALID, TRUST_PROXY: '10.0.0.0/8, 192.0.2.1,fd00::/8' }, random).server.trustProxy, {
      proxies: ['10.0.0.0/8', '192.0.2.1', 'fd00::/8'],
    });
    for (const bad of ['maybe', '10.0.0.0/33', '10.0.0.1:80', '10.0.0.1,proxy.internal']) {
      assert.ok(
        problemsOf({ ...VALID, TRUST_PROXY: bad }).some((p) => p.includes('TRUST_PROXY')),
        bad,
      );
    }
  });
});

describe('start-up with a bad configuration', () => {
  it('prints every problem and exits non-zero without listening', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env['PATH'] ?? '', PUBLIC_URL: 'nope', SESSION_SECRETS: 'short', SESSION_STORE: 'redis' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    assert.notEqual(code, 0);
    for (const name of ['PUBLIC_URL', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'API_UPSTREAM', 'SESSION_SECRETS']) {
      assert.ok(stderr.includes(name), `${name} not reported in: ${stderr}`);
    }
  });
});
