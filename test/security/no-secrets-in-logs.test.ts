import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { CLIENT_ID, CLIENT_SECRET, SECRET, startHarness, type Harness } from '../support/harness.js';
import { hostOf, parseSetCookie } from '../support/security.js';

/** Every value of a query parameter named in `names` found in `urls`. */
function paramValues(urls: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of urls) {
    const url = new URL(raw);
    for (const name of names) out.push(...url.searchParams.getAll(name));
  }
  return out.filter(Boolean);
}

describe('no token, cookie value or secret is ever written to a log', () => {
  const clock = testClock();
  let h: Harness;
  /** what → secret value */
  const secrets = new Map<string, string>();
  let sessionCookie: string;
  let loginCookie: string;

  before(async () => {
    h = await startHarness({ now: clock.now });
    const ua = h.browser();

    // Login through the IdP, keeping every URL of the redirect chain.
    const { callback, chain } = await ua.login(`${h.url}/login?returnTo=${encodeURIComponent('/after-login')}`, { stopAtOrigin: h.url });
    assert.equal(callback.status, 302, callback.text);
    const locations = [...chain];
    const callbackUrl = chain.at(-1)!;
    assert.match(callbackUrl, /\/callback\?/);

    const session = await ua.get(`${h.url}/session`);
    assert.equal(session.status, 200);
    const { sid } = session.json<{ sid: string }>();
    secrets.set('sid', sid);

    for (const path of ['/a', '/b?x=1', '/c/d']) assert.equal((await h.api(ua, path)).status, 200);
    assert.equal((await h.api(ua, '/post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":"v"}' })).status, 200);

    // Past the access token's expiry (300 s by default): the next API call refreshes first.
    const refreshes = h.idp.counts.refresh;
    clock.advance(301_000);
    assert.equal((await h.api(ua, '/after-expiry')).status, 200);
    assert.equal(h.idp.counts.refresh, refreshes + 1, 'the API call after expiry did not refresh');

    const forced = await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(forced.status, 200, forced.text);
    assert.equal(h.idp.counts.refresh, refreshes + 2, 'POST /refresh did not refresh');

    assert.equal((await ua.post(`${h.url}/api/no-csrf`)).status, 403);

    // The real callback URL replayed: its code and state travel through the rejection path.
    const replay = await ua.get(callbackUrl);
    assert.equal(replay.status, 400);
    const bogus = await ua.get(`${h.url}/callback?code=bogus-code-0123456789&state=bogus-state-0123456789`);
    assert.equal(bogus.status, 400);
    locations.push(`${h.url}/callback?code=bogus-code-0123456789&state=bogus-state-0123456789`);

    // A second login whose code is swapped for a forged one: the exchange fails at the IdP.
    const other = h.browser();
    const { response: toCallback } = await other.follow(`${h.url}/login`, { stopAt: (u) => u.origin === h.url && u.pathname === '/callback' });
    const genuine = new URL(toCallback.headers.get('location') ?? '', toCallback.url);
    assert.ok(genuine.searchParams.get('code'), 'the second login produced no code');
    locations.push(genuine.href);
    const forged = new URL(genuine);
    forged.searchParams.set('code', `forged-${genuine.searchParams.get('code')!.slice(7)}x`);
    locations.push(forged.href);
    const rejected = await other.get(forged.href);
    assert.equal(rejected.status, 400, rejected.text.slice(0, 200));
    for (const header of other.setCookies) {
      const { name, value } = parseSetCookie(header);
      if (value.length >= 16) secrets.set(`cookie ${name}=${value.slice(0, 6)}…`, value);
    }

    const logout = await ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1' } });
    assert.equal(logout.status, 200, logout.text);
    locations.push(logout.json<{ logoutUrl: string }>().logoutUrl);

    for (const token of h.idp.issued) secrets.set(`token ${token.slice(0, 10)}…`, token);
    for (const header of ua.setCookies) {
      const { name, value } = parseSetCookie(header);
      if (value.length >= 16) secrets.set(`cookie ${name}=${value.slice(0, 6)}…`, value);
    }
    sessionCookie = ua.setCookies.map(parseSetCookie).find((c) => c.name === 'bff-session' && c.value)?.value ?? '';
    loginCookie = ua.setCookies.map(parseSetCookie).find((c) => c.name === 'bff-login' && c.value)?.value ?? '';
    assert.ok(!ua.cookie(hostOf(h), 'bff-session'), 'logout left the session cookie in the browser');
    secrets.set('client secret', CLIENT_SECRET);
    secrets.set('client secret as Basic credentials', Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'));
    secrets.set('session secret', SECRET);
    for (const code of paramValues(locations, ['code'])) secrets.set(`code ${code.slice(0, 6)}…`, code);
    for (const state of paramValues(locations, ['state'])) secrets.set(`state ${state.slice(0, 6)}…`, state);
    for (const hint of paramValues(locations, ['id_token_hint'])) secrets.set(`id_token_hint ${hint.slice(0, 6)}…`, hint);
  });
  after(async () => h?.close());

  it('the flow logged every expected named event, at debug level, so the log is not empty', () => {
    assert.equal(h.logs.log.enabled('proxy.client_aborted'), true, 'the capture does not record debug events');
    for (const name of [
      'login.started',
      'callback.completed',
      'refresh.ok',
      'csrf.rejected',
      'callback.state_invalid',
      'callback.code_rejected',
      'logout.completed',
    ]) {
      assert.ok(h.logs.named(name).length > 0, `no ${name} event in the log`);
    }
    assert.equal(h.logs.named('refresh.ok').length, 2);
    assert.equal(h.logs.named('callback.state_invalid').length, 2);
    assert.ok(h.logs.named('request.completed').length >= 10, 'the access log is missing');
  });

  it('the secrets collected from the flow are really there to look for', () => {
    assert.match(sessionCookie, /^[A-Za-z0-9_-]{43}$/);
    assert.match(loginCookie, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(h.idp.issued.size >= 7, `expected login and two refreshes' tokens, the IdP issued ${h.idp.issued.size}`);
    const kinds = [...secrets.keys()].map((k) => k.split(' ')[0]);
    for (const kind of ['token', 'cookie', 'code', 'state', 'sid', 'client', 'session', 'id_token_hint']) {
      assert.ok(kinds.includes(kind), `nothing of kind ${kind} collected`);
    }
  });

  it('the log holds none of the tokens the IdP issued', () => {
    const text = h.logs.text();
    for (const token of h.idp.issued) assert.equal(text.includes(token), false, `token ${token.slice(0, 10)}… is in the log`);
  });

  it('the log holds none of the cookie values the browser received (session and login binding)', () => {
    const text = h.logs.text();
    assert.equal(text.includes(sessionCookie), false, 'the session cookie value is in the log');
    assert.equal(text.includes(loginCookie), false, 'the login-binding cookie value is in the log');
    for (const [what, value] of secrets) if (what.startsWith('cookie ')) assert.equal(text.includes(value), false, `${what} is in the log`);
  });

  it('the log holds neither the client secret nor the session secret', () => {
    const text = h.logs.text();
    assert.equal(text.includes(CLIENT_SECRET), false);
    assert.equal(text.includes(secrets.get('client secret as Basic credentials')!), false);
    assert.equal(text.includes(SECRET), false);
  });

  it('the log holds no authorization code, state, id_token_hint or logout sid seen in the redirect chain', () => {
    const text = h.logs.text();
    for (const [what, value] of secrets) {
      if (/^(code|state|id_token_hint|sid)\b/.test(what)) assert.equal(text.includes(value), false, `${what} is in the log`);
    }
  });
});
