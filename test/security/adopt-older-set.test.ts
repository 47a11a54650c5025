import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { cookieNames } from '../../src/session/cookie-names.js';
import { createSealer } from '../../src/session/seal.js';
import { createServerSessions } from '../../src/session/server-sessions.js';
import type { TokenSet } from '../../src/session/session.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { testClock } from '../support/clock.js';
import { JarIo } from '../support/cookie-jar-io.js';

const SECRET = 'adopt-older-set-secret-0123456789abcdefghij';
const EXPIRES_AT = 3_600_000;

/**
 * Sets of one session that a refresh for an RFC 8707 resource makes: the refresh token rotates,
 * the session's own access token (and so `expiresAt`) stays. Set n's refresh token is refresh-n.
 */
const set = (n: number, resource?: string): TokenSet => ({
  accessToken: 'access-0',
  tokenType: 'Bearer',
  expiresAt: EXPIRES_AT,
  refreshToken: `refresh-${n}`,
  ...(resource ? { resources: { [resource]: { accessToken: `${resource}-${n}`, tokenType: 'Bearer', expiresAt: EXPIRES_AT } } } : {}),
});

describe('Sessions.adopt: a recalled (grace) set written back after a failed save', () => {
  it('never puts an older set over a newer one of the same expiry: the rotated-away refresh token does not come back', async () => {
    const clock = testClock();
    const config = loadConfig(
      {
        PUBLIC_URL: 'http://127.0.0.1:3000',
        OIDC_ISSUER: 'http://127.0.0.1:3001',
        OIDC_ALLOW_HTTP: 'true',
        OIDC_CLIENT_ID: 'c',
        OIDC_CLIENT_SECRET: 's',
        API_UPSTREAM: 'http://127.0.0.1:3002',
        SESSION_STORE: 'memory',
        SESSION_SECRETS: SECRET,
      },
      () => SECRET,
    );
    const store = createMemoryStore(clock.now);
    const sessions = createServerSessions({ config, store, sealer: createSealer([SECRET]), cookies: cookieNames(config), now: clock.now });
    const jar = new JarIo();
    await sessions.create({ sub: 'alice', claims: { sub: 'alice' }, tokens: set(0) }, jar.io());

    // A slow request read the session while it held set 0.
    const slow = (await sessions.load(jar.io()))!;
    // Meanwhile: refresh 0 → 1 (resource x), then 1 → 2 (resource y); each saved. refresh-0 and refresh-1 are spent at the IdP.
    for (const [n, resource] of [
      [1, 'x'],
      [2, 'y'],
    ] as const) {
      const s = (await sessions.load(jar.io()))!;
      s.tokens = { ...set(n, resource), resources: { ...s.tokens.resources, ...set(n, resource).resources } };
      assert.equal(await sessions.save(s, jar.io()), true);
    }
    // The slow request now finds the grace record 0 → 1 and adopts set 1 (tokens/refresh.ts, ensureFresh's recall).
    slow.tokens = set(1, 'x');
    await sessions.adopt(slow, jar.io());

    const stored = (await sessions.load(jar.io()))!;
    assert.equal(stored.tokens.refreshToken, 'refresh-2', 'the store went back to a set whose refresh token was already used');
    assert.equal(slow.tokens.refreshToken, 'refresh-2', 'the slow request goes on with the newest set');
  });
});
