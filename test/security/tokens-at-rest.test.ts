import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { hostOf, newKeys } from '../support/security.js';

/** `1.<kid>.<base64url(iv | ciphertext | tag)>`: at least 12 + 16 bytes of body. */
const SEALED = /^1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{38,}$/;

describe('tokens at rest in Redis are sealed with SESSION_SECRETS', () => {
  let redis: TestRedis;
  let h: Harness;
  let cookie: string;
  let sid: string;
  let email: string;
  let sessionKey: string;
  let transactionKey: string;
  let pendingState: string;
  let pendingCode: string;
  const RETURN_TO_MARKER = '/private-return-path-marker';

  before(async () => {
    redis = await startTestRedis();
    h = await startHarness({ redis });
    const ua = h.browser();

    let before = new Set(await redis.keys());
    await h.login(ua);
    const sessionKeys = await newKeys(redis, before);
    assert.equal(sessionKeys.length, 1, `login left ${sessionKeys.length} new keys`);
    sessionKey = sessionKeys[0]!;
    cookie = ua.cookie(hostOf(h), 'bff-session') ?? '';
    assert.match(cookie, /^[A-Za-z0-9_-]{43}$/);

    const session = await ua.get(`${h.url}/session`);
    assert.equal(session.status, 200);
    ({ sid } = session.json<{ sid: string }>());
    email = session.json<{ claims: { email: string } }>().claims.email;
    assert.ok(email.includes('@'), 'the session carries no email claim to look for');

    assert.equal((await h.api(ua, '/at-rest')).status, 200);
    const refreshesBefore = h.idp.counts.refresh;
    const refreshed = await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal(h.idp.counts.refresh, refreshesBefore + 1, 'POST /refresh did not refresh at the IdP');

    // A second browser stops right before /callback: its login transaction is still stored.
    const pending = h.browser();
    before = new Set(await redis.keys());
    const { response } = await pending.follow(`${h.url}/login?returnTo=${encodeURIComponent(RETURN_TO_MARKER)}`, {
      stopAt: (u) => u.origin === h.url && u.pathname === '/callback',
    });
    const callbackUrl = new URL(response.headers.get('location') ?? '', response.url);
    pendingState = callbackUrl.searchParams.get('state') ?? '';
    pendingCode = callbackUrl.searchParams.get('code') ?? '';
    assert.ok(pendingState && pendingCode, `no code/state in ${callbackUrl.href}`);
    const transactionKeys = await newKeys(redis, before);
    assert.equal(transactionKeys.length, 1, `a pending login left ${transactionKeys.length} new keys`);
    transactionKey = transactionKeys[0]!;
  });
  after(async () => {
    await h?.close();
    await redis?.close();
  });

  const storedValues = async (): Promise<Array<[string, string]>> => {
    const keys = await redis.keys();
    assert.ok(keys.includes(sessionKey) && keys.includes(transactionKey), 'the session or the pending transaction is not stored');
    const out: Array<[string, string]> = [];
    for (const key of keys) {
      // Rate-limit counters: a number per address and minute.
      if (key.startsWith(`${redis.prefix}rl:`)) {
        assert.match((await redis.client.get(key)) ?? '', /^\d+$/);
        continue;
      }
      // The session cache's heartbeats of each instance (one per tracked prefix): a constant.
      if (key.startsWith(`${redis.prefix}s:hb:`) || key.startsWith(`${redis.prefix}r:hb:`)) {
        assert.equal(await redis.client.get(key), '1');
        continue;
      }
      if (key.startsWith(`${redis.prefix}i:`)) {
        // Indexes (by user, by IdP session) hold session keys only: hashes, never a token or an id.
        assert.equal(await redis.client.type(key), 'zset', `${key} is not an index`);
        for (const member of await redis.client.zrange(key, 0, -1)) assert.match(member, /^s:\{[A-Za-z0-9_-]{43}\}$/);
        continue;
      }
      assert.equal(await redis.client.type(key), 'string', `${key} is not a string value`);
      out.push([key, (await redis.client.get(key)) ?? '']);
    }
    return out;
  };

  it('after login, an API call and a refresh, no stored value contains a token the IdP issued, the cookie value, the sid or the email', async () => {
    assert.ok(h.idp.issued.size >= 5, `expected login and refresh tokens, the IdP issued ${h.idp.issued.size}`);
    const secrets = new Map<string, string>([
      ['cookie value', cookie],
      ['sid', sid],
      ['email', email],
    ]);
    for (const token of h.idp.issued) secrets.set(`token ${token.slice(0, 12)}…`, token);
    for (const [key, value] of await storedValues()) {
      for (const [what, secret] of secrets) assert.equal(value.includes(secret), false, `${key} holds the ${what} in clear`);
    }
  });

  it('every value the BFF stored starts with the sealed format prefix "1." and is one sealed envelope', async () => {
    for (const [key, value] of await storedValues()) assert.match(value, SEALED, `${key} is not sealed`);
  });

  it('no key contains the session cookie value, and the pending login is stored without its state, code or returnTo in clear', async () => {
    for (const [key, value] of await storedValues()) {
      assert.equal(key.includes(cookie), false, `${key} contains the cookie value`);
      assert.equal(key.includes(pendingState), false, `${key} contains a state`);
      assert.equal(value.includes(pendingState), false, `${key} holds a state in clear`);
      assert.equal(value.includes(pendingCode), false, `${key} holds an authorization code`);
      assert.equal(value.includes(RETURN_TO_MARKER.slice(1)), false, `${key} holds a returnTo in clear`);
    }
  });
});
