import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FORCED_REFRESH_MIN_INTERVAL_MS } from '../../src/tokens/refresh.js';
import { testClock } from '../support/clock.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

const ACCESS_TTL_MS = 300_000;

/** A browser's cookie jar for one site behind a load balancer: the Set-Cookie of the response that arrives last wins. */
class Jar {
  readonly cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  async send(url: string, method = 'GET'): Promise<Response> {
    const res = await fetch(url, { method, headers: { cookie: this.header(), 'x-csrf': '1' }, redirect: 'manual' });
    for (const setCookie of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = setCookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
    return res;
  }
}

describe('a token set put back into the browser by a late answer never logs the user out (cookie sessions, two instances, rotating refresh tokens)', () => {
  const clock = testClock();
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  let upstream: http.Server;
  let releaseSlow!: () => void;
  let slowArrived!: () => void;
  const held = new Promise<void>((resolve) => (releaseSlow = resolve));
  const arrived = new Promise<void>((resolve) => (slowArrived = resolve));
  before(async () => {
    // An upstream that holds /slow until the test lets it go.
    upstream = http.createServer((req, res) => {
      if (req.url?.includes('/slow')) {
        slowArrived();
        void held.then(() => res.end('slow'));
      } else res.end('ok');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    redis = await startTestRedis();
    const env = { SESSION_STORE: 'cookie', API_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` };
    a = await startHarness({ redis, now: clock.now, idp: { rotateRefreshToken: true }, env });
    b = await startHarness({ redis, now: clock.now, shareWith: a, env: { ...env, PUBLIC_URL: a.url } });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await redis?.close();
    upstream?.close();
  });

  it("a slow answer from B re-issues the replaced set after A's refresh: the grace record lives until that set falls due, and it then gets the new tokens", async () => {
    const ua = a.browser();
    await a.login(ua);
    const jar = new Jar();
    for (const pair of ua.cookieHeader(new URL(a.url).host).split('; ').filter(Boolean)) {
      const eq = pair.indexOf('=');
      jar.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    clock.advance(61_000); // the cookie is due for its periodic re-issue, its tokens are not
    const slow = jar.send(`${b.url}/api/slow`); // B will re-issue the cookie with the set it read (S0)
    await arrived;
    assert.equal((await jar.send(`${a.url}/refresh`, 'POST')).status, 200); // A rotates S0 -> S1
    const refreshed = jar.header();
    releaseSlow();
    assert.equal((await slow).status, 200);
    assert.notEqual(jar.header(), refreshed, 'control: the late answer put the replaced set back');

    // The record S0 -> S1 lives (in Redis time) at least until S0's access token expires.
    const graceKeys = (await redis.keys()).filter((k) => k.startsWith(`${redis.prefix}g:`));
    assert.equal(graceKeys.length, 1);
    const ttl = await redis.client.pttl(graceKeys[0]!);
    assert.ok(ttl > ACCESS_TTL_MS - 61_000, `the grace record expires in ${ttl} ms, before the set it answers for falls due`);

    clock.advance(ACCESS_TTL_MS - 61_000); // S0 is due now (S1 is not)
    const refreshes = a.idp.counts.refresh;
    assert.equal((await jar.send(`${b.url}/api/due`)).status, 200);
    assert.equal(a.idp.counts.refresh, refreshes, 'the used refresh token of S0 must never reach the IdP');
    assert.equal((await jar.send(`${a.url}/api/after`)).status, 200);
  });
});

describe(`POST /refresh refreshes a session at most once every ${FORCED_REFRESH_MIN_INTERVAL_MS / 1000} s per instance`, () => {
  const clock = testClock();
  let h: Harness;
  before(async () => {
    h = await startHarness({ now: clock.now, env: { SESSION_STORE: 'cookie' } });
  });
  after(async () => h?.close());

  it('100 forced refreshes of one session in a row make one grant at the IdP, and every answer is 200', async () => {
    const ua = h.browser();
    await h.login(ua);
    const before = h.idp.counts.refresh;
    for (let i = 0; i < 100; i++) assert.equal((await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal(h.idp.counts.refresh - before, 1);
    clock.advance(FORCED_REFRESH_MIN_INTERVAL_MS);
    assert.equal((await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal(h.idp.counts.refresh - before, 2, 'after the interval a forced refresh reaches the IdP again');
  });
});
