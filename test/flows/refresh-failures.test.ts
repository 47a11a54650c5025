import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { CustomFetch } from 'openid-client';
import { testClock } from '../support/clock.js';
import { idpFaults, tokenEndpointAnswers } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';

const ACCESS_TTL_MS = 300_000; // the test IdP's default access-token lifetime

type Rule = Parameters<ReturnType<typeof idpFaults>['set']>[0];
const isToken = (url: string) => new URL(url).pathname.endsWith('/token');

/** The token endpoint never answers: the call ends when openid-client's OIDC_TIMEOUT signal fires. */
const tokenEndpointHangs: Rule = (url, init) => {
  if (!isToken(url)) return undefined;
  const signal = init.signal!;
  return new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
};

/** The token request goes to `port`, where a server resets every connection (a real undici socket error). */
const tokenEndpointResets =
  (port: number): Rule =>
  (url, init) =>
    isToken(url) ? fetch(`http://127.0.0.1:${port}/token`, init as RequestInit) : undefined;

interface Row {
  answer: string;
  rule: () => Rule;
  status: number;
  error: string;
  /** Whether /session still says authenticated afterwards. */
  kept: boolean;
}

/**
 * Issue 16 item 5: a certified OP answers a revoked or expired refresh token with 400
 * invalid_request (not invalid_grant). Any 4xx but 408/429 means the refresh token is dead: the
 * session ends. Timeouts, connection errors, 408, 429 and 5xx are the IdP's trouble: it stays.
 */
describe('a dead refresh token ends the session; a struggling IdP does not (refresh failure classification)', () => {
  const clock = testClock();
  const faults = idpFaults();
  let resetter: net.Server;
  let resetPort: number;
  let h: Harness;
  before(async () => {
    resetter = net.createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
    resetPort = (resetter.address() as AddressInfo).port;
    h = await startHarness({ now: clock.now, idpFetch: faults.fetch as CustomFetch, env: { OIDC_TIMEOUT: '1' } });
  });
  afterEach(() => faults.clear());
  after(async () => {
    await h?.close();
    await new Promise((resolve) => resetter?.close(resolve));
  });

  const html = (status: number, title: string) => () => tokenEndpointAnswers(status, `<!DOCTYPE html><title>${title}</title>`, 'text/html');
  const rows: Row[] = [
    {
      answer: '400 invalid_request (a certified OP on a revoked refresh token)',
      rule: () => tokenEndpointAnswers(400, { error: 'invalid_request', error_description: 'refresh token expired' }),
      status: 401,
      error: 'unauthenticated',
      kept: false,
    },
    { answer: '400 invalid_grant', rule: () => tokenEndpointAnswers(400, { error: 'invalid_grant' }), status: 401, error: 'unauthenticated', kept: false },
    { answer: '401 invalid_client', rule: () => tokenEndpointAnswers(401, { error: 'invalid_client' }), status: 401, error: 'unauthenticated', kept: false },
    { answer: '403 with an HTML page', rule: html(403, 'Forbidden'), status: 401, error: 'unauthenticated', kept: false },
    { answer: '403 access_denied', rule: () => tokenEndpointAnswers(403, { error: 'access_denied' }), status: 401, error: 'unauthenticated', kept: false },
    { answer: '404 with an HTML page', rule: html(404, 'Not Found'), status: 401, error: 'unauthenticated', kept: false },
    { answer: '408 Request Timeout', rule: html(408, 'Request Timeout'), status: 502, error: 'idp_unreachable', kept: true },
    { answer: '429 slow_down', rule: () => tokenEndpointAnswers(429, { error: 'slow_down' }), status: 502, error: 'idp_error', kept: true },
    { answer: '429 with an HTML page', rule: html(429, 'Too Many Requests'), status: 502, error: 'idp_error', kept: true },
    {
      answer: '400 temporarily_unavailable (the IdP says itself that it is transient)',
      rule: () => tokenEndpointAnswers(400, { error: 'temporarily_unavailable' }),
      status: 502,
      error: 'idp_error',
      kept: true,
    },
    {
      answer: '400 server_error (the IdP says itself that the fault is its own)',
      rule: () => tokenEndpointAnswers(400, { error: 'server_error' }),
      status: 502,
      error: 'idp_error',
      kept: true,
    },
    { answer: '500 with an HTML page', rule: html(500, 'Internal Server Error'), status: 502, error: 'idp_error', kept: true },
    {
      answer: '503 temporarily_unavailable',
      rule: () => tokenEndpointAnswers(503, { error: 'temporarily_unavailable' }),
      status: 502,
      error: 'idp_error',
      kept: true,
    },
    { answer: 'no answer within OIDC_TIMEOUT', rule: () => tokenEndpointHangs, status: 502, error: 'idp_unreachable', kept: true },
    { answer: 'the connection reset', rule: () => tokenEndpointResets(resetPort), status: 502, error: 'idp_unreachable', kept: true },
  ];

  for (const row of rows) {
    it(`refresh answered ${row.answer}: ${row.status} ${row.error}, session ${row.kept ? 'kept' : 'ended'}`, async () => {
      const ua = h.browser();
      await h.login(ua);
      clock.advance(ACCESS_TTL_MS + 1);
      const refreshes = h.idp.counts.refresh;
      faults.set(row.rule());
      const res = await h.api(ua, '/x');
      faults.clear();
      assert.equal(res.status, row.status, res.text);
      assert.equal(res.json<{ error: string }>().error, row.error);
      assert.equal(
        res.setCookies.some((c) => /^bff-session=;/.test(c) && /Max-Age=0/i.test(c)),
        !row.kept,
        'session cookie cleared',
      );
      const session = await ua.get(`${h.url}/session`);
      assert.equal(session.status, row.kept ? 200 : 401, `/session after ${row.answer}`);
      assert.equal(session.json<{ authenticated: boolean }>().authenticated, row.kept);
      if (row.kept) {
        // Once the IdP recovers, the kept session refreshes and works.
        assert.equal((await h.api(ua, '/y')).status, 200);
        assert.equal(h.idp.counts.refresh, refreshes + 1);
      } else {
        assert.equal((await h.api(ua, '/y')).status, 401);
        assert.deepEqual(h.logs.named('refresh.rejected').length > 0, true);
      }
    });
  }
});
