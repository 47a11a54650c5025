import assert from 'node:assert/strict';
import { listen, type Listening } from '../../src/http/server.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

const ADMIN_TOKEN = 'an-admin-token-that-is-long-enough-0123456789';

describe('session admin API: on the admin port only, behind ADMIN_TOKEN, never showing a token', () => {
  let redis: TestRedis;
  let h: Harness;
  let admin: Listening;
  let adminUrl: string;
  before(async () => {
    redis = await startTestRedis();
    h = await startHarness({ redis, env: { ADMIN_TOKEN } });
    admin = await listen(h.bff.admin, '127.0.0.1', 0);
    adminUrl = `http://127.0.0.1:${admin.port}`;
  });
  after(async () => {
    await admin?.drain(0);
    await h?.close();
    await redis?.close();
  });
  const call = (method: string, path: string, token: string | null = ADMIN_TOKEN) =>
    fetch(`${adminUrl}${path}`, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });

  it('refuses a call without a token or with a wrong one (401), and audits it', async () => {
    assert.equal((await call('GET', '/admin/sessions?sub=alice', null)).status, 401);
    assert.equal((await call('GET', '/admin/sessions?sub=alice', `${ADMIN_TOKEN}x`)).status, 401);
    assert.equal((await call('GET', '/admin/sessions?sub=alice', 'short')).status, 401);
    assert.ok(h.logs.named('admin.audit').some((e) => e['reason'] === 'unauthenticated'));
  });

  it('is not served on the public port', async () => {
    const res = await fetch(`${h.url}/admin/sessions?sub=alice`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 404);
  });

  it("lists a user's sessions (handle, times, user agent) and never a token or cookie", async () => {
    const uas = [h.browser(), h.browser()];
    for (const ua of uas) await h.login(ua, '?login_hint=frank');
    await h.login(h.browser(), '?login_hint=grace');
    const res = await call('GET', '/admin/sessions?sub=frank');
    assert.equal(res.status, 200);
    const text = await res.text();
    const { sessions } = JSON.parse(text) as { sessions: Array<Record<string, unknown>> };
    assert.equal(sessions.length, 2);
    for (const s of sessions) {
      assert.deepEqual(Object.keys(s).sort(), ['createdAt', 'expiresAt', 'handle', 'idleExpiresAt', 'sub', 'userAgent']);
      assert.equal(s['sub'], 'frank');
    }
    for (const token of h.idp.issued) assert.ok(!text.includes(token), 'a token in the admin listing');
    for (const ua of uas) assert.ok(!text.includes(ua.cookie(new URL(h.url).host, 'bff-session')!), 'a session id in the listing');
  });

  it("ends one session by its handle, then all of a user's sessions", async () => {
    const one = h.browser();
    const two = h.browser();
    await h.login(one, '?login_hint=heidi');
    await h.login(two, '?login_hint=heidi');
    const { sessions } = (await (await call('GET', '/admin/sessions?sub=heidi')).json()) as { sessions: Array<{ handle: string }> };
    assert.equal((await call('DELETE', `/admin/sessions/${sessions[0]!.handle}`)).status, 204);
    const statuses = [(await one.get(`${h.url}/session`)).status, (await two.get(`${h.url}/session`)).status].sort();
    assert.deepEqual(statuses, [200, 401]);
    const all = await call('DELETE', '/admin/sessions?sub=heidi');
    assert.deepEqual(await all.json(), { ended: 1 });
    assert.equal((await one.get(`${h.url}/session`)).status, 401);
    assert.equal((await two.get(`${h.url}/session`)).status, 401);
    assert.equal((await call('DELETE', `/admin/sessions/${sessions[0]!.handle}`)).status, 404);
  });

  it('is off (404) when ADMIN_TOKEN is not set', async () => {
    const plain = await startHarness();
    const off = await listen(plain.bff.admin, '127.0.0.1', 0);
    try {
      const res = await fetch(`http://127.0.0.1:${off.port}/admin/sessions?sub=alice`, { headers: { authorization: 'Bearer anything' } });
      assert.equal(res.status, 404);
    } finally {
      await off.drain(0);
      await plain.close();
    }
  });
});
