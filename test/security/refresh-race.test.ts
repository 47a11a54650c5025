import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { shareCookies, startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

const ACCESS_TTL_MS = 300_000;

/** Two BFF instances behind one PUBLIC_URL, sharing one Redis and one IdP that rotates refresh tokens. */
async function twoInstances(redis: TestRedis, clock: ReturnType<typeof testClock>, store: 'redis' | 'cookie'): Promise<[Harness, Harness]> {
  const env = { SESSION_STORE: store };
  const a = await startHarness({ redis, now: clock.now, idp: { rotateRefreshToken: true }, env });
  const b = await startHarness({ redis, now: clock.now, shareWith: a, env: { ...env, PUBLIC_URL: a.url } });
  return [a, b];
}

// Cookie sessions with REDIS_URL take the same cross-instance lock and grace records as the Redis store.
for (const store of ['redis', 'cookie'] as const) describe(`one refresh per session across instances, and rotation races never log a user out (SESSION_STORE=${store}, Redis configured)`, () => {
  const clock = testClock();
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  before(async () => {
    redis = await startTestRedis();
    [a, b] = await twoInstances(redis, clock, store);
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  it('50 concurrent calls over two instances with an expired token make exactly one refresh at the IdP, 20 times in a row', async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    for (let round = 1; round <= 20; round++) {
      clock.advance(ACCESS_TTL_MS + 1);
      const refreshesBefore = a.idp.counts.refresh;
      const receivedBefore = a.upstream.received.length;
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? b : a).api(ua, `/r${round}/${i}`)));
      assert.deepEqual(results.map((r) => r.status), Array(50).fill(200), `round ${round}: ${results.map((r) => r.status).join(',')}`);
      assert.equal(a.idp.counts.refresh - refreshesBefore, 1, `round ${round}: refreshes at the IdP`);
      const bearers = new Set(a.upstream.received.slice(receivedBefore).map((r) => r.headers['authorization']));
      assert.equal(bearers.size, 1, `round ${round}: the upstream saw ${bearers.size} different tokens`);
      assert.ok(a.idp.issued.has(String([...bearers][0]).slice('Bearer '.length)));
    }
    assert.equal((await ua.get(`${a.url}/session`)).status, 200);
    assert.equal((await b.api(ua, '/still-signed-in')).status, 200);
  });

  it('a request still carrying the rotated state on another instance uses the new tokens (grace record)', async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    clock.advance(ACCESS_TTL_MS + 1);
    assert.equal((await a.api(ua, '/first')).status, 200);
    const refreshes = a.idp.counts.refresh;
    assert.equal((await b.api(ua, '/second')).status, 200);
    assert.equal(a.idp.counts.refresh, refreshes, 'instance B must not refresh again');
  });

  it('a logout on one instance during a refresh on the other leaves the session ended', async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    clock.advance(ACCESS_TTL_MS + 1);
    const [api, logout] = await Promise.all([b.api(ua, '/racing'), ua.post(`${a.url}/logout`, { headers: { 'x-csrf': '1' } })]);
    assert.equal(logout.status, 200);
    assert.ok([200, 401].includes(api.status), `api answered ${api.status}`);
    assert.equal((await b.api(ua, '/after')).status, 401);
    assert.equal((await a.api(ua, '/after')).status, 401);
  });
});
