import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

interface Info {
  authenticated: boolean;
  claims: Record<string, unknown>;
  sid: string;
  expiresAt: number;
  idleExpiresAt: number;
  logoutUrl: string;
  loginUrl: string;
}

describe('GET /session tells the SPA who is signed in, never with a token', () => {
  const clock = testClock();
  let h: Harness;
  before(async () => {
    h = await startHarness({ now: clock.now, env: { SESSION_IDLE_TIMEOUT: '600', SESSION_MAX_AGE: '3600' } });
  });
  after(async () => h?.close());

  it('answers 401 {authenticated:false, loginUrl} to an anonymous browser, not cacheable', async () => {
    const res = await h.browser().get(`${h.url}/session`);
    assert.equal(res.status, 401);
    assert.deepEqual(res.json(), { authenticated: false, loginUrl: `${h.url}/login` });
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('answers 200 with claims, sid, expiries and a logout URL carrying the sid', async () => {
    const ua = h.browser();
    await h.login(ua, '?login_hint=dora');
    const res = await ua.get(`${h.url}/session`);
    const info = res.json<Info>();
    assert.deepEqual(Object.keys(info).sort(), ['authenticated', 'claims', 'expiresAt', 'idleExpiresAt', 'logoutUrl', 'sid']);
    assert.equal(info.claims['sub'], 'dora');
    assert.equal(info.claims['email'], 'dora@example.test');
    assert.equal(info.expiresAt, Math.floor(clock.now() / 1000) + 3600);
    assert.equal(info.idleExpiresAt, Math.floor(clock.now() / 1000) + 600);
    assert.equal(info.logoutUrl, `${h.url}/logout?sid=${info.sid}`);
    for (const token of h.idp.issued) assert.ok(!res.text.includes(token), 'a token in /session');
  });

  it('ends a session idle for longer than SESSION_IDLE_TIMEOUT, and slides while in use', async () => {
    const ua = h.browser();
    await h.login(ua);
    clock.advance(500_000);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
    clock.advance(500_000); // 1000 s since login, 500 s since last use
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
    clock.advance(600_001);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });

  it('ends a session older than SESSION_MAX_AGE however active it is', async () => {
    const ua = h.browser();
    await h.login(ua);
    for (let i = 0; i < 7; i++) {
      clock.advance(500_000);
      assert.equal((await ua.get(`${h.url}/session`)).status, 200, `after ${(i + 1) * 500} s`);
    }
    clock.advance(100_001); // 3600 s + 1 ms since login
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });
});

describe('idle and absolute timeouts are enforced by the server in Redis', () => {
  let redis: TestRedis;
  let h: Harness;
  before(async () => {
    redis = await startTestRedis();
    h = await startHarness({ redis, env: { SESSION_IDLE_TIMEOUT: '600', SESSION_MAX_AGE: '3600' } });
  });
  after(async () => {
    await h?.close();
    await redis?.close();
  });

  it('stores the session with a time to live of the idle timeout, renewed when it is read from Redis', async () => {
    const ua = h.browser();
    const before = new Set(await redis.keys());
    await h.login(ua);
    const key = (await redis.keys()).find((k) => !before.has(k) && k.startsWith(`${redis.prefix}s:{`))!;
    assert.ok(key, 'no session key');
    await redis.client.pexpire(key, 5_000);
    await h.bff.store?.caughtUp?.(); // the change drops the session from the BFF's cache
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
    const ttl = await redis.client.pttl(key);
    assert.ok(ttl > 590_000 && ttl <= 600_000, `ttl ${ttl}`);
  });
});
