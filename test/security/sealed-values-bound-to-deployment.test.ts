import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

/**
 * Two deployments (other client, other issuer, other public origin) that share SESSION_SECRETS
 * and, for the Redis store, one Redis and key prefix: a session of one is anonymous at the other.
 */
for (const store of ['cookie', 'redis'] as const)
  describe(`a sealed session opens only in the deployment that sealed it (SESSION_STORE=${store})`, () => {
    let redis: TestRedis;
    let a: Harness;
    const others: Harness[] = [];
    let cookie: string;
    before(async () => {
      redis = await startTestRedis();
      a = await startHarness({ redis, env: { SESSION_STORE: store } });
      const ua = a.browser();
      await a.login(ua);
      cookie = ua.cookieHeader(new URL(a.url).host);
    });
    after(async () => {
      for (const h of others) await h.close();
      await a?.close();
      await redis?.close();
    });
    const deployment = async (env: Record<string, string>, ownIdp = false) => {
      const h = await startHarness({ redis, ...(ownIdp ? {} : { shareWith: a }), env: { SESSION_STORE: store, ...env } });
      others.push(h);
      return h;
    };
    const sessionStatus = async (h: Harness) => (await fetch(`${h.url}/session`, { headers: { cookie } })).status;

    it('control: another instance of the same deployment accepts the session', async () => {
      assert.equal(await sessionStatus(await deployment({ PUBLIC_URL: a.url })), 200);
    });

    it('a deployment with another client id and the same secrets sees an anonymous browser, and logs why', async () => {
      const other = await deployment({ PUBLIC_URL: a.url, OIDC_CLIENT_ID: 'another-app' });
      assert.equal(await sessionStatus(other), 401);
      if (store === 'cookie') assert.equal(other.logs.named('session.cookie_invalid').length, 1);
      const api = await fetch(`${other.url}/api/steal`, { headers: { cookie, 'x-csrf': '1' } });
      assert.equal(api.status, 401);
    });

    it('a deployment at another issuer with the same client id and secrets sees an anonymous browser', async () => {
      assert.equal(await sessionStatus(await deployment({ PUBLIC_URL: a.url }, true)), 401);
    });

    it('a deployment at another public origin with the same client and secrets sees an anonymous browser', async () => {
      assert.equal(await sessionStatus(await deployment({})), 401);
    });
  });
