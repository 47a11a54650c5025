import assert from 'node:assert/strict';
import { listen, type Listening } from '../../src/http/server.js';
import { idpFaults } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import { logoutClaims, postLogoutToken, signLogoutToken } from '../support/logout-token.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import type { UserAgent } from '../support/user-agent.js';

const ADMIN_TOKEN = 'an-admin-token-that-is-long-enough-0123456789';
const csrf = { 'x-csrf': '1' };

/** What a thief copied from the browser: its Cookie header for the BFF, as it was before the logout. */
const copyCookies = (ua: UserAgent, h: Harness) => ua.cookieHeader(new URL(h.url).host);
const withCopy = (cookie: string) => ({ headers: { cookie, ...csrf } });
const statusWith = async (url: string, cookie: string) => (await fetch(url, withCopy(cookie))).status;

interface Kind {
  name: string;
  end(h: Harness, ua: UserAgent, admin: string): Promise<void>;
}

const sessionInfo = async (h: Harness, ua: UserAgent) => (await ua.get(`${h.url}/session`)).json<{ sid: string; claims: { sub: string; sid?: string } }>();
const adminCall = (admin: string, method: string, path: string) => fetch(`${admin}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

const kinds: Kind[] = [
  { name: 'POST /logout', end: async (h, ua) => assert.equal((await ua.post(`${h.url}/logout`, { headers: csrf })).status, 200) },
  {
    name: 'GET /logout?sid=…',
    end: async (h, ua) => {
      const { sid } = await sessionInfo(h, ua);
      assert.equal((await ua.get(`${h.url}/logout?sid=${encodeURIComponent(sid)}`)).status, 302);
    },
  },
  {
    name: 'admin DELETE /admin/sessions/{handle}',
    end: async (h, _ua, admin) => {
      const handle = String(h.logs.named('callback.completed').at(-1)!['session']);
      assert.equal((await adminCall(admin, 'DELETE', `/admin/sessions/${handle}`)).status, 204);
    },
  },
  {
    name: 'admin DELETE /admin/sessions?sub=…',
    end: async (h, ua, admin) => {
      const { claims } = await sessionInfo(h, ua);
      assert.equal((await adminCall(admin, 'DELETE', `/admin/sessions?sub=${encodeURIComponent(claims.sub)}`)).status, 200);
    },
  },
  {
    name: 'back-channel logout',
    end: async (h, ua) => {
      const { claims } = await sessionInfo(h, ua);
      assert.equal((await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sid: claims.sid, sub: claims.sub })))).status, 200);
    },
  },
];

describe('cookie sessions with Redis: a copied pre-logout cookie is anonymous on every instance after every kind of logout', () => {
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  let admin: Listening;
  before(async () => {
    redis = await startTestRedis();
    const env = { SESSION_STORE: 'cookie', ADMIN_TOKEN };
    a = await startHarness({ redis, backchannel: true, env });
    b = await startHarness({ redis, shareWith: a, env: { ...env, PUBLIC_URL: a.url } });
    admin = await listen(a.bff.admin, '127.0.0.1', 0);
  });
  after(async () => {
    await admin?.drain(0);
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  for (const kind of kinds) {
    it(`after ${kind.name}, the copy gets 401 from /session and /api on both instances`, async () => {
      const bystander = a.browser();
      await a.login(bystander, '?login_hint=zed');
      const ua = a.browser();
      await a.login(ua);
      const copy = copyCookies(ua, a);
      for (const h of [a, b]) assert.equal(await statusWith(`${h.url}/api/before`, copy), 200, 'control: the copy works before the logout');
      await kind.end(a, ua, `http://127.0.0.1:${admin.port}`);
      await b.bff.sharedStore?.caughtUp?.();
      for (const h of [a, b]) {
        assert.equal(await statusWith(`${h.url}/session`, copy), 401, `${h === a ? 'A' : 'B'} /session`);
        assert.equal(await statusWith(`${h.url}/api/after`, copy), 401, `${h === a ? 'A' : 'B'} /api`);
      }
      assert.equal((await bystander.get(`${a.url}/session`)).status, 200, 'another user stays signed in');
    });
  }
});

describe('cookie sessions without Redis: a copied pre-logout cookie is anonymous on the instance that ended it', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ env: { SESSION_STORE: 'cookie' } });
  });
  after(async () => h?.close());

  for (const kind of kinds.slice(0, 2)) {
    it(`after ${kind.name}, the copy gets 401`, async () => {
      const ua = h.browser();
      await h.login(ua);
      const copy = copyCookies(ua, h);
      assert.equal(await statusWith(`${h.url}/api/before`, copy), 200);
      await kind.end(h, ua, '');
      assert.equal(await statusWith(`${h.url}/session`, copy), 401);
      assert.equal(await statusWith(`${h.url}/api/after`, copy), 401);
    });
  }
});

for (const store of ['redis', 'cookie'] as const)
  describe(`a login racing a back-channel logout is ended too (SESSION_STORE=${store})`, () => {
    const faults = idpFaults();
    let redis: TestRedis;
    let h: Harness;
    before(async () => {
      redis = await startTestRedis();
      h = await startHarness({ redis, backchannel: true, idpFetch: faults.fetch, env: { SESSION_STORE: store } });
    });
    after(async () => {
      faults.clear();
      await h?.close();
      await redis?.close();
    });

    /** Runs a login whose code exchange is held until `during` has run. */
    async function loginAround(ua: UserAgent, during: () => Promise<void>, query = '') {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let exchanging!: () => void;
      const started = new Promise<void>((resolve) => (exchanging = resolve));
      faults.set((url, init) => {
        if (!new URL(url).pathname.endsWith('/token') || !String(init?.body ?? '').includes('authorization_code')) return undefined;
        exchanging();
        return held.then(() => fetch(url, init as RequestInit));
      });
      const login = h.login(ua, query);
      await started;
      await during();
      release();
      const callback = await login;
      faults.clear();
      return callback;
    }

    for (const by of ['sid', 'sub'] as const) {
      it(`a logout token by ${by} accepted while the callback exchanges the code ends the new session (no session, a page saying why)`, async () => {
        const ua = h.browser();
        await h.login(ua, '?login_hint=olga');
        const { claims } = await sessionInfo(h, ua);
        assert.ok(claims.sid, 'the IdP put no sid in the ID token');
        const callback = await loginAround(
          ua,
          async () => {
            const token = signLogoutToken(h.idp, logoutClaims(h.idp, by === 'sid' ? { sid: claims.sid } : { sub: claims.sub }));
            assert.equal((await postLogoutToken(h.url, token)).status, 200);
          },
          '?login_hint=olga',
        );
        assert.equal(callback.status, 400, callback.text.slice(0, 300));
        assert.ok(h.logs.named('callback.logged_out_meanwhile').length >= 1);
        assert.equal((await ua.get(`${h.url}/session`)).status, 401);
      });
    }

    it('a login that begins after the logout token is not ended by it', async () => {
      const ua = h.browser();
      await h.login(ua, '?login_hint=pete');
      assert.equal((await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sub: 'pete' })))).status, 200);
      const again = h.browser();
      await h.login(again, '?login_hint=pete');
      assert.equal((await again.get(`${h.url}/session`)).status, 200);
    });
  });

/** Runs `before` once the IdP has redirected to /callback (the code exists), before the browser arrives at the BFF. */
async function loginPausedBeforeCallback(h: Harness, ua: UserAgent, query: string, before: () => Promise<void>) {
  const { response } = await ua.follow(`${h.url}/login${query}`, { stopAt: (u) => u.origin === h.url && u.pathname === '/callback' });
  const callbackUrl = new URL(response.headers.get('location')!, response.url).href;
  await before();
  return ua.get(callbackUrl);
}

for (const store of ['redis', 'cookie'] as const)
  describe(`a login whose callback arrives after a back-channel logout of its IdP session or user is ended (SESSION_STORE=${store})`, () => {
    let redis: TestRedis;
    let h: Harness;
    before(async () => {
      redis = await startTestRedis();
      h = await startHarness({ redis, backchannel: true, env: { SESSION_STORE: store } });
    });
    after(async () => {
      await h?.close();
      await redis?.close();
    });

    it('a logout token for the sid, accepted before the callback arrives, ends the login: an ended IdP session never comes back', async () => {
      const ua = h.browser();
      await h.login(ua, '?login_hint=vera');
      const { claims } = await sessionInfo(h, ua);
      assert.ok(claims.sid);
      const callback = await loginPausedBeforeCallback(h, ua, '?login_hint=vera', async () => {
        assert.equal((await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sid: claims.sid })))).status, 200);
      });
      assert.equal(callback.status, 400, callback.text.slice(0, 200));
      assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    });

    it('a logout token for the sub alone, accepted before the callback arrives, ends a login whose authentication (auth_time) came before it', async () => {
      const ua = h.browser();
      await h.login(ua, '?login_hint=walt');
      // max_age makes the IdP put auth_time in the ID token (Keycloak and Entra ID always do).
      const callback = await loginPausedBeforeCallback(h, ua, '?login_hint=walt&max_age=86400', async () => {
        assert.equal((await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sub: 'walt' })))).status, 200);
      });
      assert.equal(callback.status, 400, callback.text.slice(0, 200));
      assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    });
  });

describe('records of ended sessions belong to their deployment: two apps with two IdPs share one Redis', () => {
  let redis: TestRedis;
  let app1: Harness;
  let app2: Harness;
  before(async () => {
    redis = await startTestRedis();
    app1 = await startHarness({ redis, backchannel: true, env: { SESSION_STORE: 'cookie' } });
    app2 = await startHarness({ redis, backchannel: true, env: { SESSION_STORE: 'cookie' } });
  });
  after(async () => {
    await app2?.close();
    await app1?.close();
    await redis?.close();
  });

  it("a logout token of app 2's IdP for sub 'alice' leaves app 1's alice (another issuer's user) signed in", async () => {
    assert.notEqual(app1.idp.issuer, app2.idp.issuer);
    const ua = app1.browser();
    await app1.login(ua, '?login_hint=alice');
    assert.equal((await postLogoutToken(app2.url, signLogoutToken(app2.idp, logoutClaims(app2.idp, { sub: 'alice' })))).status, 200);
    await app1.bff.sharedStore?.caughtUp?.();
    assert.equal((await ua.get(`${app1.url}/session`)).status, 200);
    // Control: app 1's own IdP ends her session.
    assert.equal((await postLogoutToken(app1.url, signLogoutToken(app1.idp, logoutClaims(app1.idp, { sub: 'alice' })))).status, 200);
    await app1.bff.sharedStore?.caughtUp?.();
    assert.equal((await ua.get(`${app1.url}/session`)).status, 401);
  });
});
