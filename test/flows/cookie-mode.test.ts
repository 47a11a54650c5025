import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { idpFaults, tokenResponseEdited } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

const ACCESS_TTL_MS = 300_000;
const csrf = { 'x-csrf': '1' };
const sessionCookies = (ua: UserAgent, h: Harness) =>
  ua
    .cookieHeader(new URL(h.url).host)
    .split('; ')
    .filter((c) => c.startsWith('bff-session'));
const inflate = (extra: number) => tokenResponseEdited((body) => ({ ...body, access_token: `${body['access_token'] as string}${'x'.repeat(extra)}` }));

describe('SESSION_STORE=cookie: the whole session sealed in the browser', () => {
  const clock = testClock();
  const faults = idpFaults();
  let h: Harness;
  let ua: UserAgent;
  beforeEach(async () => {
    h = await startHarness({ now: clock.now, idpFetch: faults.fetch, env: { SESSION_STORE: 'cookie' } });
    ua = h.browser();
  });
  afterEach(async () => {
    faults.clear();
    await h?.close();
  });

  it('logs in, calls the API, refreshes and logs out with no server state', async () => {
    await h.login(ua, '?login_hint=erin');
    const session = await ua.get(`${h.url}/session`);
    assert.equal(session.json<{ claims: { sub: string } }>().claims.sub, 'erin');
    assert.equal((await h.api(ua, '/things')).status, 200);
    const first = h.upstream.received.at(-1)!.headers['authorization'];
    clock.advance(ACCESS_TTL_MS + 1);
    const refreshed = await h.api(ua, '/things');
    assert.equal(refreshed.status, 200);
    assert.equal(h.idp.counts.refresh, 1);
    assert.notEqual(h.upstream.received.at(-1)!.headers['authorization'], first);
    assert.ok(
      refreshed.setCookies.some((c) => c.startsWith('bff-session=')),
      'the refreshed session must be re-issued',
    );
    const out = await ua.post(`${h.url}/logout`, { headers: csrf });
    assert.equal(out.status, 200);
    assert.equal(h.idp.counts.revocation, 1);
    assert.deepEqual(sessionCookies(ua, h), []);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });

  it('keeps a typical oidc-provider session in one cookie under 4 KB, opaque', async () => {
    await h.login(ua);
    const cookies = sessionCookies(ua, h);
    assert.equal(cookies.length, 1);
    assert.ok(cookies[0]!.length < 4096, `${cookies[0]!.length} bytes`);
    for (const token of h.idp.issued) assert.ok(!cookies[0]!.includes(token));
  });

  it('makes one refresh for concurrent calls of one browser, and sets the refreshed cookie on every response', async () => {
    await h.login(ua);
    clock.advance(ACCESS_TTL_MS + 1);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => h.api(ua, `/c${i}`)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.equal(h.idp.counts.refresh, 1);
    assert.ok(results.every((r) => r.setCookies.some((c) => c.startsWith('bff-session='))));
  });

  it('splits a session over 4 KB into chunks, and deletes the stale chunks when it shrinks', async () => {
    faults.set(inflate(3500));
    await h.login(ua);
    faults.clear();
    assert.ok(sessionCookies(ua, h).length >= 2, 'expected chunks');
    assert.equal((await h.api(ua, '/big')).status, 200);
    assert.ok(String(h.upstream.received.at(-1)!.headers['authorization']).endsWith('x'.repeat(3500)));
    clock.advance(ACCESS_TTL_MS + 1);
    const shrunk = await h.api(ua, '/small');
    assert.equal(shrunk.status, 200);
    assert.ok(shrunk.setCookies.some((c) => c.startsWith('bff-session.1=;') && c.includes('Max-Age=0')));
    assert.deepEqual(
      sessionCookies(ua, h).map((c) => c.split('=')[0]),
      ['bff-session'],
    );
    assert.equal((await h.api(ua, '/after')).status, 200);
  });

  it('treats a tampered, dropped or reordered chunk as anonymous (401), never a 5xx', async () => {
    faults.set(inflate(3500));
    await h.login(ua);
    faults.clear();
    const host = new URL(h.url).host;
    const first = ua.cookie(host, 'bff-session')!;
    const second = ua.cookie(host, 'bff-session.1')!;
    const tampers: Array<[string, (b: UserAgent) => void]> = [
      ['a flipped byte in chunk 1', (b) => b.setCookie(host, 'bff-session.1', `${second.slice(0, 100)}${second[100] === 'A' ? 'B' : 'A'}${second.slice(101)}`)],
      ['chunk 1 dropped', (b) => b.deleteCookie(host, 'bff-session.1')],
      [
        'chunks 0 and 1 swapped',
        (b) => {
          b.setCookie(host, 'bff-session', second);
          b.setCookie(host, 'bff-session.1', first);
        },
      ],
    ];
    for (const [name, tamper] of tampers) {
      const b = h.browser();
      b.setCookie(host, 'bff-session', first);
      b.setCookie(host, 'bff-session.1', second);
      tamper(b);
      assert.equal((await h.api(b, '/x')).status, 401, name);
    }
    assert.equal((await h.api(ua, '/x')).status, 200, 'the untampered cookies still work');
  });

  it('a cookie altered anywhere but its end is anonymous even right after the real one was used (the opened-cookie memo matches whole values)', async () => {
    await h.login(ua);
    assert.equal((await h.api(ua, '/first')).status, 200); // the real cookie is now remembered as opened
    const host = new URL(h.url).host;
    const real = ua.cookie(host, 'bff-session')!;
    const at = Math.floor(real.length / 2);
    const altered = `${real.slice(0, at)}${real[at] === 'A' ? 'B' : 'A'}${real.slice(at + 1)}`;
    const b = h.browser();
    b.setCookie(host, 'bff-session', altered);
    assert.equal((await h.api(b, '/x')).status, 401);
    assert.equal((await h.api(ua, '/x')).status, 200, 'the real cookie still works');
  });

  it('a cookie session idle for SESSION_IDLE_TIMEOUT is anonymous, and the log says it expired (session.expired)', async () => {
    await h.login(ua);
    clock.advance(h.config.session.idleTimeoutMs);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    const [expired, ...more] = h.logs.named('session.expired');
    assert.equal(more.length, 0);
    assert.match(String(expired?.['reason']), /idle/);
    assert.equal(typeof expired?.['session'], 'string');
  });

  it('a cookie session kept busy past SESSION_MAX_AGE is anonymous, and the log says it reached its lifetime (session.expired)', async () => {
    await h.login(ua);
    const { idleTimeoutMs, maxAgeMs } = h.config.session;
    const step = idleTimeoutMs - 1000;
    let elapsed = 0;
    // Each call inside the idle timeout re-issues the cookie, so only the absolute lifetime can end it.
    while ((await ua.get(`${h.url}/session`)).status === 200) {
      assert.ok(elapsed <= maxAgeMs, 'the session outlived SESSION_MAX_AGE');
      clock.advance(step);
      elapsed += step;
    }
    assert.ok(elapsed >= maxAgeMs, `ended after ${elapsed} ms, before SESSION_MAX_AGE`);
    const events = h.logs.named('session.expired');
    assert.equal(events.length, 1);
    assert.match(String(events[0]?.['reason']), /lifetime/);
  });

  it('a copy of a cookie taken before the logout is anonymous, and the log says the session was ended (session.ended)', async () => {
    await h.login(ua);
    const host = new URL(h.url).host;
    const copy = h.browser();
    copy.setCookie(host, 'bff-session', ua.cookie(host, 'bff-session')!);
    assert.equal((await copy.get(`${h.url}/session`)).status, 200);
    assert.equal((await ua.post(`${h.url}/logout`, { headers: csrf })).status, 200);
    assert.equal(h.logs.named('session.ended').length, 0, 'the logout itself is logout.completed');
    assert.equal((await copy.get(`${h.url}/session`)).status, 401);
    const ended = h.logs.named('session.ended');
    assert.equal(ended.length, 1);
    assert.equal(ended[0]?.['session'], h.logs.named('logout.completed')[0]?.['session']);
  });

  it('fails a login whose tokens exceed SESSION_COOKIE_BUDGET with a page naming the cause, and sets no session', async () => {
    faults.set(inflate(20_000));
    const res = await h.login(ua);
    assert.equal(res.status, 500);
    assert.match(res.text, /SESSION_STORE=redis/);
    assert.deepEqual(sessionCookies(ua, h), []);
  });
});
