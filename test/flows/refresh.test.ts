import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { idpFaults, tokenEndpointAnswers, tokenEndpointDown } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

const ACCESS_TTL_MS = 300_000; // the test IdP's default access-token lifetime
const bearer = (h: Harness) => String(h.upstream.received.at(-1)?.headers['authorization']).slice('Bearer '.length);

describe('access tokens are refreshed when they expire within TOKEN_REFRESH_SKEW', () => {
  const clock = testClock();
  const faults = idpFaults();
  let h: Harness;
  let ua: UserAgent;
  beforeEach(async () => {
    h = await startHarness({ now: clock.now, idpFetch: faults.fetch, env: { TOKEN_REFRESH_SKEW: '30' } });
    ua = h.browser();
    await h.login(ua);
    await h.api(ua, '/warmup');
  });
  afterEach(async () => {
    faults.clear();
    await h?.close();
  });

  it('uses the current token while it is outside the skew', async () => {
    const first = bearer(h);
    clock.advance(ACCESS_TTL_MS - 46_000); // outside skew (30 s) + the largest jitter (15 s)
    await h.api(ua, '/x');
    assert.equal(bearer(h), first);
    assert.equal(h.idp.counts.refresh, 0);
  });

  it('refreshes once inside the skew and forwards the new token', async () => {
    const first = bearer(h);
    clock.advance(ACCESS_TTL_MS - 29_000);
    const res = await h.api(ua, '/x');
    assert.equal(res.status, 200);
    assert.equal(h.idp.counts.refresh, 1);
    assert.notEqual(bearer(h), first);
    assert.ok(h.idp.issued.has(bearer(h)));
  });

  it('makes one refresh for many concurrent calls of one session in one instance', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => h.api(ua, `/c${i}`)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(20).fill(200),
    );
    assert.equal(h.idp.counts.refresh, 1);
    const tokens = new Set(h.upstream.received.slice(-20).map((r) => r.headers['authorization']));
    assert.equal(tokens.size, 1);
  });

  it('ends the session when the IdP rejects the refresh token (invalid_grant): 401, cookie cleared', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    faults.set(tokenEndpointAnswers(400, { error: 'invalid_grant' }));
    const before = h.upstream.received.length;
    const res = await h.api(ua, '/x');
    assert.equal(res.status, 401);
    assert.equal(res.json<{ error: string }>().error, 'unauthenticated');
    assert.ok(res.setCookies.some((c) => c.startsWith('bff-session=;') && c.includes('Max-Age=0')));
    assert.equal(h.upstream.received.length, before);
    faults.clear();
    assert.equal((await h.api(ua, '/x')).status, 401);
  });

  it('treats a 400 with an empty body (some IdPs) as a rejection: 401', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    faults.set(tokenEndpointAnswers(400, '', 'text/plain'));
    assert.equal((await h.api(ua, '/x')).status, 401);
  });

  it('keeps the session when the IdP fails with 5xx (502), and refreshes on the next call once it recovers', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    faults.set(tokenEndpointAnswers(503, { error: 'temporarily_unavailable' }));
    const failed = await h.api(ua, '/x');
    assert.equal(failed.status, 502);
    assert.ok(!failed.setCookies.some((c) => c.includes('Max-Age=0')));
    faults.clear();
    assert.equal((await h.api(ua, '/x')).status, 200);
    assert.equal(h.idp.counts.refresh, 1);
  });

  it('keeps the session when the IdP throttles (429) or is temporarily_unavailable: 502, not a logout', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    for (const [status, body] of [
      [429, { error: 'slow_down' }],
      [400, { error: 'temporarily_unavailable' }],
    ] as const) {
      faults.set(tokenEndpointAnswers(status, body));
      const res = await h.api(ua, '/x');
      assert.equal(res.status, 502, `${status} ${body.error}`);
    }
    faults.clear();
    assert.equal((await h.api(ua, '/x')).status, 200);
  });

  it('ends the session when the IdP refuses our client (invalid_client): 401', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    faults.set(tokenEndpointAnswers(401, { error: 'invalid_client' }));
    assert.equal((await h.api(ua, '/x')).status, 401);
  });

  it('keeps the session when the IdP is unreachable (502 idp_unreachable)', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    faults.set(tokenEndpointDown);
    const res = await h.api(ua, '/x');
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: string }>().error, 'idp_unreachable');
    faults.clear();
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('POST /refresh forces a refresh and answers like /session, never with a token', async () => {
    const res = await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(res.status, 200);
    assert.equal(h.idp.counts.refresh, 1);
    const body = res.json<{ authenticated: boolean; sid: string }>();
    assert.equal(body.authenticated, true);
    for (const token of h.idp.issued) assert.ok(!res.text.includes(token));
  });

  it('POST /refresh needs the anti-CSRF header and a session', async () => {
    assert.equal((await ua.post(`${h.url}/refresh`)).status, 403);
    assert.equal((await h.browser().post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } })).status, 401);
    assert.equal(h.idp.counts.refresh, 0);
  });
});

describe('a token that lives shorter than the skew is not refreshed on every call', () => {
  it('refreshes at half its lifetime at the latest, not at once', async () => {
    const clock = testClock();
    const h = await startHarness({ now: clock.now, idp: { accessTokenTtl: 20 }, env: { TOKEN_REFRESH_SKEW: '30' } });
    try {
      const ua = h.browser();
      await h.login(ua);
      assert.equal((await h.api(ua, '/a')).status, 200);
      assert.equal((await h.api(ua, '/b')).status, 200);
      assert.equal(h.idp.counts.refresh, 0);
      clock.advance(10_001);
      assert.equal((await h.api(ua, '/c')).status, 200);
      assert.equal(h.idp.counts.refresh, 1);
    } finally {
      await h.close();
    }
  });
});
