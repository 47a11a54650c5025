import assert from 'node:assert/strict';
import type { CustomFetch } from 'openid-client';
import { testClock, type TestClock } from '../support/clock.js';
import { idpFaults, type IdpFaults } from '../support/faults.js';
import { CLIENT_ID, CLIENT_SECRET, shareCookies, startHarness, type Harness } from '../support/harness.js';
import { startJwtUpstream, type JwtUpstream } from '../support/jwt-upstream.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { phantomKey } from '../../src/tokens/phantom.js';

interface Setup {
  h: Harness;
  api: JwtUpstream;
  routes: RoutesFile;
  faults: IdpFaults;
  /** Every access and refresh token the IdP issued to the BFF, in order (read from the token responses). */
  accessTokens: string[];
  refreshTokens: string[];
}

interface Options {
  dialect?: 'token-introspection+jwt' | 'jwt' | 'json-jwt';
  clock?: TestClock;
  store?: SessionStore;
  env?: Record<string, string>;
}

const idpMode = { 'token-introspection+jwt': true, jwt: 'jwtBody', 'json-jwt': 'jwtMember' } as const;

async function start({ dialect = 'token-introspection+jwt', clock, store, env }: Options = {}): Promise<Setup> {
  let issuer = '';
  const api = await startJwtUpstream(() => issuer);
  const routes = routesFile([{ path: '/api/orders', upstream: api.url, token: 'phantom' }]);
  const faults = idpFaults();
  const accessTokens: string[] = [];
  const refreshTokens: string[] = [];
  const observed: CustomFetch = async (url, init) => {
    const res = await faults.fetch(url, init);
    if (new URL(url).pathname.endsWith('/token') && res.status === 200) {
      const body = (await res.clone().json()) as { access_token?: string; refresh_token?: string };
      if (body.access_token) accessTokens.push(body.access_token);
      if (body.refresh_token) refreshTokens.push(body.refresh_token);
    }
    return res;
  };
  const h = await startHarness({
    idp: { introspection: idpMode[dialect] },
    client: dialect === 'token-introspection+jwt' ? { introspection_signed_response_alg: 'RS256' } : {},
    env: { API_ROUTES: routes.path, OIDC_INTROSPECTION_DIALECT: dialect, ...env },
    idpFetch: observed,
    ...(clock ? { now: clock.now } : {}),
    ...(store ? { store } : {}),
  });
  issuer = h.idp.issuer;
  return { h, api, routes, faults, accessTokens, refreshTokens };
}

async function stop(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.h.close();
  await s.api.close();
  s.routes.remove();
}

/** Revokes `token` at the IdP, as an administrator or the user's other client would. */
async function revokeAtIdp(s: Setup, token: string, hint: 'access_token' | 'refresh_token'): Promise<void> {
  const res = await fetch(`${s.h.idp.issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: hint }),
  });
  assert.equal(res.status, 200);
}

/**
 * The IdP forgets one access token and keeps its grant (an administrator's revocation of that
 * token; oidc-provider's revocation endpoint would end the whole grant).
 */
async function forgetAccessToken(s: Setup, token: string): Promise<void> {
  const { AccessToken } = s.h.idp.provider as unknown as { AccessToken: { find(t: string): Promise<{ destroy(): Promise<void> } | undefined> } };
  const found = await AccessToken.find(token);
  assert.ok(found);
  await found.destroy();
}

const connectionRefused = () =>
  Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }));
const isIntrospection = (url: string) => new URL(url).pathname.endsWith('/introspection');

describe('phantom route through forward-auth: the gateway is handed the JWT, never the opaque token', () => {
  let s: Setup;
  before(async () => {
    s = await start({ env: { FORWARD_AUTH_PATH: '/auth' } });
  });
  after(() => stop(s));

  it("the forward-auth answer's Authorization is the IdP-signed JWT of the session's token", async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    const res = await ua.get(`${s.h.url}/auth`, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/api/orders/1' } });
    assert.equal(res.status, 200, res.text);
    const jwt = (res.headers.get('authorization') ?? '').replace(/^Bearer /, '');
    assert.equal(jwt.split('.').length, 3);
    assert.notEqual(jwt, s.accessTokens.at(-1));
    assert.equal(s.h.idp.counts.introspection, 1);
  });
});

for (const dialect of ['token-introspection+jwt', 'jwt', 'json-jwt'] as const) {
  describe(`phantom route, dialect ${dialect}: the upstream gets a JWT the IdP signed, never the opaque token`, () => {
    let s: Setup;
    before(async () => {
      s = await start({ dialect });
    });
    after(() => stop(s));

    it("the upstream verifies the forwarded JWT against the IdP's JWKS, and it is about the session's user", async () => {
      const ua = s.h.browser();
      await s.h.login(ua);
      const res = await s.h.api(ua, '/orders/1');
      assert.equal(res.status, 200, res.text);
      const verdict = s.api.verdicts.at(-1)!;
      assert.equal(verdict.refusal, undefined);
      const about = dialect === 'token-introspection+jwt' ? (verdict.claims!['token_introspection'] as Record<string, unknown>) : verdict.claims!;
      assert.equal(about['sub'], 'alice');
      assert.equal(about['active'] ?? true, true);
      const opaque = s.accessTokens.at(-1)!;
      assert.equal(opaque.split('.').length, 1, 'the IdP issued an opaque access token');
      assert.notEqual(verdict.bearer, opaque);
      assert.equal(s.h.idp.counts.introspection, 1);
      const logged = s.h.logs.text();
      assert.ok(!logged.includes(opaque) && !logged.includes(verdict.bearer!), 'neither the opaque token nor its JWT is logged');
    });
  });
}

describe('phantom route: one introspection per token, shared by concurrent calls and by instances', () => {
  let s: Setup;
  let second: Harness | undefined;
  const store = createMemoryStore();
  before(async () => {
    // The 200 calls may all be in flight at once: no per-client cap turns some into 429s.
    s = await start({ store, env: { API_UPSTREAM_CONNECTIONS_PER_CLIENT: '256' } });
  });
  after(async () => {
    await second?.close();
    await stop(s);
  });

  it('200 concurrent calls with one session cost the IdP one introspection, and all carry the same JWT', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    const before = s.h.idp.counts.introspection;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => s.h.api(ua, `/orders/${i}`)));
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]), results.find((r) => r.status !== 200)?.text);
    assert.equal(s.h.idp.counts.introspection - before, 1);
    assert.equal(new Set(s.api.verdicts.slice(-200).map((v) => v.bearer)).size, 1);
  });

  it('the JWT is kept under a hash of the opaque token, sealed: neither the token nor the JWT is readable in the store', async () => {
    const opaque = s.accessTokens.at(-1)!;
    const key = phantomKey(opaque);
    assert.ok(!key.includes(opaque));
    const value = await store.get(key);
    assert.ok(value, 'the shared store holds the JWT');
    assert.ok(!value.includes(s.api.verdicts.at(-1)!.bearer!.split('.')[1]!), 'sealed, not the JWT in clear');
  });

  it('a second instance sharing the store forwards the same JWT without asking the IdP', async () => {
    second = await startHarness({ shareWith: s.h, store, env: { API_ROUTES: s.routes.path, PUBLIC_URL: s.h.url } });
    const ua = s.h.browser();
    await s.h.login(ua);
    await s.h.api(ua, '/orders/1');
    const before = s.h.idp.counts.introspection;
    shareCookies(ua, s.h, second);
    const res = await second.api(ua, '/orders/2');
    assert.equal(res.status, 200, res.text);
    assert.equal(s.h.idp.counts.introspection, before);
    assert.equal(s.api.verdicts.at(-1)!.bearer, s.api.verdicts.at(-2)!.bearer);
  });
});

describe('phantom route: expiry and revocation', () => {
  let s: Setup;
  const clock = testClock();
  before(async () => {
    s = await start({ clock });
  });
  after(() => stop(s));

  it('the JWT is reused while the token lives, and obtained anew once it is within the skew of its expiry', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    await s.h.api(ua, '/orders/1');
    const first = s.h.idp.counts.introspection;
    const refreshes = s.h.idp.counts.refresh;
    clock.advance(120_000);
    await s.h.api(ua, '/orders/2');
    assert.equal(s.h.idp.counts.introspection, first, 'still cached two minutes into a five-minute token');
    clock.advance(160_000); // 280 s: inside the 30 s skew of the 300 s token
    const res = await s.h.api(ua, '/orders/3');
    assert.equal(res.status, 200, res.text);
    assert.equal(s.h.idp.counts.introspection, first + 1);
    assert.equal(s.h.idp.counts.refresh, refreshes + 1, 'the token was refreshed, and the new one introspected');
  });

  it('an access token the IdP no longer knows is inactive: the BFF refreshes and forwards the JWT of the new token', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    const refreshes = s.h.idp.counts.refresh;
    await forgetAccessToken(s, s.accessTokens.at(-1)!);
    const res = await s.h.api(ua, '/orders/1');
    assert.equal(res.status, 200, res.text);
    assert.equal(s.h.idp.counts.refresh, refreshes + 1);
    assert.ok(s.h.logs.named('phantom.inactive').length > 0);
    assert.equal(s.api.verdicts.at(-1)!.refusal, undefined);
  });

  it('a revoked grant (refresh token too) ends the session: 401 unauthenticated, the upstream not called', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    const calls = s.api.verdicts.length;
    // oidc-provider revokes the whole grant with its refresh token: the access token too.
    await revokeAtIdp(s, s.refreshTokens.at(-1)!, 'refresh_token');
    const res = await s.h.api(ua, '/orders/1');
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json<{ error: string }>().error, 'unauthenticated');
    assert.equal(s.api.verdicts.length, calls);
    assert.equal((await s.h.api(ua, '/orders/2')).status, 401, 'the session is gone');
  });
});

describe('phantom route: a JWT shorter-lived than its token is not reused past its own exp', () => {
  let s: Setup;
  const clock = testClock();
  const DAY_S = 86_400;
  before(async () => {
    // The JSON dialect, so that a rule can say the token lives a day (its JWT still expires in 300 s).
    s = await start({ clock, dialect: 'json-jwt' });
  });
  after(() => stop(s));

  it("the JWT is asked for anew within the skew of its own exp, whatever the introspection answer's exp says", async () => {
    s.faults.set((url, init) => {
      const path = new URL(url).pathname;
      if (!path.endsWith('/introspection') && !path.endsWith('/token')) return undefined;
      return fetch(url, init as RequestInit).then(async (res) => {
        const body = (await res.json()) as Record<string, unknown>;
        if (path.endsWith('/token')) body['expires_in'] = DAY_S;
        else if (body['active'] === true) body['exp'] = Math.floor(Date.now() / 1000) + DAY_S;
        return Response.json(body, { status: res.status });
      });
    });
    try {
      const ua = s.h.browser();
      await s.h.login(ua);
      assert.equal((await s.h.api(ua, '/orders/1')).status, 200);
      const first = s.h.idp.counts.introspection;
      // To 20 s before the JWT's own exp (inside the 30 s skew), by the IdP's clock: the test clock
      // started when this file loaded, and the IdP's runs in real time.
      const jwtExp = s.api.verdicts.at(-1)!.claims!['exp'] as number;
      clock.advance(jwtExp * 1000 - 20_000 - clock.now());
      assert.equal((await s.h.api(ua, '/orders/2')).status, 200);
      assert.equal(s.h.idp.counts.introspection, first + 1, 'the cached JWT was used past its own exp minus the skew');
    } finally {
      s.faults.clear();
    }
  });
});

describe('phantom route: an IdP failure is a 502, and the opaque token never goes upstream', () => {
  let s: Setup;
  before(async () => {
    s = await start();
  });
  after(() => stop(s));

  for (const [name, rule] of [
    ['unreachable', connectionRefused],
    ['answering 503', () => Promise.resolve(new Response('down', { status: 503 }))],
    ['answering an unsigned JSON where a signed answer was asked for', () => Promise.resolve(Response.json({ active: true, sub: 'alice' }))],
  ] as const) {
    it(`introspection endpoint ${name}: 502, the upstream not called`, async () => {
      const ua = s.h.browser();
      await s.h.login(ua);
      const calls = s.api.verdicts.length;
      s.faults.set((url) => (isIntrospection(url) ? rule() : undefined));
      try {
        const res = await s.h.api(ua, '/orders/1');
        assert.equal(res.status, 502, res.text);
        assert.match(res.json<{ error: string }>().error, /^idp_(unreachable|error)$/);
      } finally {
        s.faults.clear();
      }
      assert.equal(s.api.verdicts.length, calls);
      assert.ok(s.h.logs.named('phantom.failed').length > 0);
      const res = await s.h.api(ua, '/orders/1');
      assert.equal(res.status, 200, 'the session survives an IdP outage');
      assert.notEqual(s.api.verdicts.at(-1)!.bearer, s.accessTokens.at(-1));
    });
  }
});
