import assert from 'node:assert/strict';
import { answerHeaders } from '../../../src/gateway/answer.js';
import { lastPerName } from '../../../src/gateway/set-cookie.js';
import { addressMatcher } from '../../../src/web/address-match.js';
import type { Session } from '../../../src/session/session.js';

describe('gateway: trusted addresses', () => {
  it('the default list trusts loopback only, IPv4-mapped addresses included', () => {
    const trusted = addressMatcher(['127.0.0.0/8', '::1']);
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2']) assert.ok(trusted(a), a);
    for (const a of ['10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1%eth0', 'localhost', '', undefined]) assert.ok(!trusted(a), String(a));
  });

  it('matches single addresses and CIDR blocks of both families', () => {
    const trusted = addressMatcher(['10.1.2.3', '192.168.0.0/16', 'fd00::/8', '2001:db8::7']);
    for (const a of ['10.1.2.3', '192.168.255.1', '::ffff:192.168.1.1', 'fd12:3456::1', '2001:db8::7']) assert.ok(trusted(a), a);
    for (const a of ['10.1.2.4', '192.169.0.1', 'fe00::1', '2001:db8::8', '127.0.0.1']) assert.ok(!trusted(a), a);
  });

  it('an empty list trusts nobody', () => {
    assert.ok(!addressMatcher([])('127.0.0.1'));
  });
});

describe('gateway: one Set-Cookie per cookie name', () => {
  it('keeps the last write of each cookie, in the order of those writes', () => {
    assert.deepEqual(lastPerName(['bff-session=slid; Path=/', 'theme=a', 'bff-session=refreshed; Path=/', 'bff-session.1=; Max-Age=0']), [
      'theme=a',
      'bff-session=refreshed; Path=/',
      'bff-session.1=; Max-Age=0',
    ]);
    assert.deepEqual(lastPerName(['a=1']), ['a=1']);
  });
});

describe('gateway: the headers of a 200 answer', () => {
  const session = (claims: Record<string, unknown> = {}, sub = 'user-1'): Session => ({
    key: 'k',
    sid: 's',
    sub,
    claims,
    createdAt: 0,
    tokens: { accessToken: 'the-access-token', tokenType: 'Bearer', expiresAt: 0 },
  });
  const isOwn = (name: string) => /^(?:__Host-)?bff-/.test(name);
  const TOKEN = 'the-access-token';

  it('carries the bearer token and the Cookie header without the BFF cookies (whatever their order or prefix)', () => {
    const h = answerHeaders(session(), 'a=1; __Host-bff-session=x; b=2; bff-session.1=y; bff-login=z; c=3', isOwn, false, TOKEN);
    assert.equal(h['authorization'], 'Bearer the-access-token');
    assert.equal(h['cookie'], 'a=1; b=2; c=3');
    assert.equal(h['x-envoy-auth-headers-to-remove'], 'x-auth-request-user, x-auth-request-email, x-csrf');
  });

  it('has no Cookie (and tells Envoy to drop it) when only BFF cookies were sent; a nameless BFF pair counts as one', () => {
    const h = answerHeaders(session(), 'bff-session=x; bff-session', isOwn, false, TOKEN);
    assert.equal(h['cookie'], undefined);
    assert.match(h['x-envoy-auth-headers-to-remove']!, /^cookie, /);
  });

  it('adds the identity headers only when asked, and only header-safe values', () => {
    assert.equal(answerHeaders(session({ email: 'a@example.test', email_verified: true }), undefined, isOwn, false, TOKEN)['x-auth-request-email'], undefined);
    const h = answerHeaders(session({ email: 'a@example.test', email_verified: true }), undefined, isOwn, true, TOKEN);
    assert.equal(h['x-auth-request-user'], 'user-1');
    assert.equal(h['x-auth-request-email'], 'a@example.test');
    const odd = answerHeaders(session({ email: 'jöran@exämple.test', email_verified: true }, 'line\r\nbreak'), undefined, isOwn, true, TOKEN);
    assert.equal(odd['x-auth-request-user'], undefined);
    assert.equal(odd['x-auth-request-email'], undefined);
    assert.equal(odd['x-envoy-auth-headers-to-remove'], 'cookie, x-auth-request-user, x-auth-request-email, x-csrf');
  });

  // Issue 16 item 13: an upstream that trusts X-Auth-Request-Email as the user's address must
  // never get one the IdP did not verify (anyone can register an account with someone else's).
  it('sends X-Auth-Request-Email only for a verified address (email_verified === true): an unverified one is never vouched for', () => {
    for (const claims of [
      { email: 'ceo@victim.example' },
      { email: 'ceo@victim.example', email_verified: false },
      { email: 'ceo@victim.example', email_verified: 'true' },
    ]) {
      const h = answerHeaders(session(claims), undefined, isOwn, true, TOKEN);
      assert.equal(h['x-auth-request-email'], undefined, JSON.stringify(claims));
      assert.equal(h['x-auth-request-user'], 'user-1');
      assert.match(h['x-envoy-auth-headers-to-remove']!, /x-auth-request-email/, 'Envoy drops one the browser sent');
    }
  });
});
