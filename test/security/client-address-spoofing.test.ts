import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

/** Statuses of `count` anonymous GET /login, the i-th sending `forwardedFor(i)` as X-Forwarded-For. */
async function logins(h: Harness, count: number, forwardedFor: (i: number) => string | undefined): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const xff = forwardedFor(i);
    statuses.push((await h.browser().get(`${h.url}/login`, { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } })).status);
  }
  return statuses;
}

const limited = (allowed: number, total: number) => [...Array(allowed).fill(302), ...Array(total - allowed).fill(429)];

describe('the rate-limit key is the client address, parsed, and only trusted proxies may name it', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis?.close();
  });
  // Every test counts 127.0.0.1 afresh: its own key space under this run's prefix.
  const ownKeys = (name: string) => ({ REDIS_KEY_PREFIX: `${redis.prefix}${name}:` });

  it('attack: a fresh source port in X-Forwarded-For (ip:port) does not buy a fresh /login budget', async () => {
    const h = await startHarness({ redis, env: { ...ownKeys('port'), TRUST_PROXY: '1', RATE_LIMIT_PER_MINUTE: '3' } });
    try {
      assert.deepEqual(await logins(h, 5, (i) => `203.0.113.9:${40000 + i}`), limited(3, 5));
      // [v6]:port spellings of one address share one budget too.
      assert.deepEqual(await logins(h, 4, (i) => `[2001:db8::${i + 1}]:${50000 + i}`), limited(3, 4));
      // Another client behind the same proxy keeps its own budget.
      assert.deepEqual(await logins(h, 1, () => '198.51.100.4'), [302]);
    } finally {
      await h.close();
    }
  });

  it('attack: a peer that is not a listed proxy invents X-Forwarded-For addresses, and they are ignored', async () => {
    const h = await startHarness({ redis, env: { ...ownKeys('untrusted'), TRUST_PROXY: '10.0.0.0/8, fd00::/8', RATE_LIMIT_PER_MINUTE: '3' } });
    try {
      // Its invented address does not reach the upstream either: X-Forwarded-For is the connection's.
      const ua = h.browser();
      await h.login(ua);
      const echoed = await h.api(ua, '/echo', { headers: { 'x-forwarded-for': '6.6.6.6' } });
      assert.equal(echoed.json<{ headers: Record<string, string> }>().headers['x-forwarded-for'], '127.0.0.1');
      // The login above spent one of the three.
      assert.deepEqual(await logins(h, 4, (i) => `6.6.6.${i}`), limited(2, 4));
    } finally {
      await h.close();
    }
  });

  it("attack: addresses forged left of the client in a listed proxy's X-Forwarded-For are ignored (walked from the right)", async () => {
    const h = await startHarness({ redis, env: { ...ownKeys('walk'), TRUST_PROXY: '127.0.0.1,10.0.0.0/8', RATE_LIMIT_PER_MINUTE: '3' } });
    try {
      // What nginx at 10.0.0.2 sends when the client 203.0.113.9 wrote its own X-Forwarded-For.
      assert.deepEqual(await logins(h, 5, (i) => `6.6.6.${i}, 10.9.9.${i}, 203.0.113.9, 10.0.0.2`), limited(3, 5));
      assert.deepEqual(await logins(h, 1, () => '198.51.100.4, 10.0.0.2'), [302]);
      // Garbage where the client should be counts as the proxy's own address, never as a new one.
      assert.deepEqual(await logins(h, 4, (i) => `unknown-${i}`), limited(3, 4));
    } finally {
      await h.close();
    }
  });

  it('attack: one address cannot pile up stored login transactions (LOGIN_MAX_PENDING_PER_CLIENT)', async () => {
    const h = await startHarness({ redis, env: { ...ownKeys('pending'), RATE_LIMIT_PER_MINUTE: '1000', LOGIN_MAX_PENDING_PER_CLIENT: '4' } });
    try {
      const stored = async () => (await redis.keys()).filter((k) => k.startsWith(`${redis.prefix}pending:t:`)).length;
      const before = await stored();
      assert.deepEqual(await logins(h, 7, () => undefined), limited(4, 7));
      assert.equal(await stored(), before + 4);
      const refused = await h.browser().get(`${h.url}/login`, { headers: { accept: 'application/json' } });
      assert.equal(refused.json<{ error: string }>().error, 'rate_limited');
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    } finally {
      await h.close();
    }
  });
});
