import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { CLIENT_SECRET, startHarness, type Harness } from '../support/harness.js';
import { BACKCHANNEL_EVENT, hs256LogoutToken, logoutClaims, postLogoutToken, signLogoutToken, unsignedLogoutToken } from '../support/logout-token.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import type { UserAgent } from '../support/user-agent.js';

interface Info {
  claims: { sub: string; sid?: string };
}
const info = async (h: Harness, ua: UserAgent) => (await ua.get(`${h.url}/session`)).json<Info>();

describe('POST /backchannel-logout ends every session the IdP ends', () => {
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  before(async () => {
    redis = await startTestRedis();
    a = await startHarness({ redis, backchannel: true });
    b = await startHarness({ redis, shareWith: a, env: { PUBLIC_URL: a.url } });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  async function signedIn(loginHint = 'alice'): Promise<{ ua: UserAgent; sid: string }> {
    const ua = a.browser();
    await a.login(ua, `?login_hint=${loginHint}`);
    const { claims } = await info(a, ua);
    assert.ok(claims.sid, 'the IdP put no sid in the ID token');
    return { ua, sid: claims.sid };
  }
  const alive = async (ua: UserAgent) => (await ua.get(`${a.url}/session`)).status === 200;

  it('a logout at the IdP (RP-initiated, by the browser) ends the BFF session on every instance', async () => {
    const { ua } = await signedIn();
    const host = new URL(a.url).host;
    ua.setCookie(new URL(b.url).host, 'bff-session', ua.cookie(host, 'bff-session')!);
    const delivered = a.idp.counts.backchannelDelivered;
    const page = await ua.get(`${a.idp.issuer}/session/end?client_id=spa-bff`);
    await ua.submitForm(page, { logout: 'yes' });
    assert.equal(a.idp.counts.backchannelDelivered, delivered + 1, 'the IdP did not deliver a logout token');
    assert.equal((await ua.get(`${a.url}/session`)).status, 401);
    assert.equal((await ua.get(`${b.url}/session`)).status, 401);
  });

  it('a valid token with sid ends that IdP session only; the answer is 200 no-store', async () => {
    const one = await signedIn();
    const two = await signedIn();
    const res = await postLogoutToken(a.url, signLogoutToken(a.idp, logoutClaims(a.idp, { sid: one.sid, sub: 'alice' })));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(await alive(one.ua), false);
    assert.equal(await alive(two.ua), true);
  });

  it('a token with only sub ends all three sessions of that user, and none of another user', async () => {
    const alice = [await signedIn('carol'), await signedIn('carol'), await signedIn('carol')];
    const bob = await signedIn('dave');
    const res = await postLogoutToken(b.url, signLogoutToken(a.idp, logoutClaims(a.idp, { sub: 'carol' })));
    assert.equal(res.status, 200);
    for (const s of alice) assert.equal(await alive(s.ua), false);
    assert.equal(await alive(bob.ua), true);
  });

  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const attacks: Array<[string, (sid: string) => string]> = [
    ['unsigned (alg: none)', (sid) => unsignedLogoutToken(logoutClaims(a.idp, { sid }))],
    ['HS256 with the client secret', (sid) => hs256LogoutToken(logoutClaims(a.idp, { sid }), CLIENT_SECRET)],
    ['signed by an unknown key', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid }), { kid: 'unknown' }, otherKey)],
    ['signed by another key under the IdP kid', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid }), {}, otherKey)],
    ['for another audience', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, aud: 'other-client' }))],
    ['from another issuer', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, iss: 'https://evil.example' }))],
    ['with a nonce', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, nonce: 'n' }))],
    ['without events', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, events: undefined }))],
    ['with another event', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, events: { 'http://schemas.openid.net/event/other': {} } }))],
    ['with the event not an object', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, events: { [BACKCHANNEL_EVENT]: 'yes' } }))],
    ['without jti', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, jti: undefined }))],
    ['with neither sid nor sub', () => signLogoutToken(a.idp, logoutClaims(a.idp, {}))],
    ['with a stale iat', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, iat: Math.floor(Date.now() / 1000) - 3600 }))],
    ['expired', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid, exp: Math.floor(Date.now() / 1000) - 120 }))],
    ['with an unexpected typ (an ID token)', (sid) => signLogoutToken(a.idp, logoutClaims(a.idp, { sid }), { typ: 'at+jwt' })],
  ];
  for (const [name, token] of attacks) {
    it(`refuses a logout token ${name}: 400 invalid_request, and the session survives`, async () => {
      const { ua, sid } = await signedIn();
      const res = await postLogoutToken(a.url, token(sid));
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_request');
      assert.equal(await alive(ua), true);
    });
  }

  it('refuses a replayed jti (400), even on another instance, and ends nothing the second time', async () => {
    const first = await signedIn();
    const token = signLogoutToken(a.idp, logoutClaims(a.idp, { sub: 'alice', sid: first.sid }));
    assert.equal((await postLogoutToken(a.url, token)).status, 200);
    const second = await signedIn();
    const replay = await postLogoutToken(b.url, token);
    assert.equal(replay.status, 400);
    assert.equal(await alive(second.ua), true);
  });

  it('refuses a request without a logout_token, or not form-encoded', async () => {
    assert.equal(
      (await fetch(`${a.url}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1' })).status,
      400,
    );
    assert.equal((await fetch(`${a.url}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400);
  });

  it('logs every rejection with its reason', () => {
    const reasons = a.logs
      .named('backchannel.rejected')
      .concat(b.logs.named('backchannel.rejected'))
      .map((e) => String(e['reason']));
    for (const expected of ['nonce present', 'jti missing', 'neither sid nor sub', 'jti replayed', 'iat too old']) {
      assert.ok(reasons.includes(expected), `${expected} not in ${JSON.stringify(reasons)}`);
    }
  });
});

describe('back-channel logout with cookie sessions and no Redis', () => {
  it('answers 501 with a reason: there is no server state to end', async () => {
    const h = await startHarness({ env: { SESSION_STORE: 'cookie' } });
    try {
      const res = await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sub: 'alice' })));
      assert.equal(res.status, 501);
      assert.match(((await res.json()) as { error_description: string }).error_description, /REDIS_URL/);
    } finally {
      await h.close();
    }
  });
});

describe('back-channel logout with cookie sessions and Redis: a revocation list', () => {
  let redis: TestRedis;
  let h: Harness;
  before(async () => {
    redis = await startTestRedis();
    h = await startHarness({ redis, env: { SESSION_STORE: 'cookie' } });
  });
  after(async () => {
    await h?.close();
    await redis?.close();
  });

  it('refuses from then on the sealed cookie sessions of the ended sid or sub, but not a later login', async () => {
    const bySid = h.browser();
    await h.login(bySid, '?login_hint=ivan');
    const { claims } = await info(h, bySid);
    const bySub = h.browser();
    await h.login(bySub, '?login_hint=judy');
    const other = h.browser();
    await h.login(other, '?login_hint=ken');
    assert.equal((await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sid: claims.sid, sub: 'ivan' })))).status, 200);
    assert.equal((await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sub: 'judy' })))).status, 200);
    assert.equal((await bySid.get(`${h.url}/session`)).status, 401);
    assert.equal((await bySub.get(`${h.url}/session`)).status, 401);
    assert.equal((await other.get(`${h.url}/session`)).status, 200);
    const again = h.browser();
    await h.login(again, '?login_hint=judy');
    assert.equal((await again.get(`${h.url}/session`)).status, 200, 'a login after the logout token must work');
  });
});
