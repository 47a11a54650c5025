import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { cookieNames } from '../../src/session/cookie-names.js';
import { startFrontends, type Frontends } from '../support/frontends.js';

const PATH = '/gateway/introspect';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const GW = 'replay-gw';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('gateway client assertions: a jti is single-use at every unit of a frontend', () => {
  let f: Frontends;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bff-assertion-replay-'));
    const keys = join(dir, 'gw.jwks.json');
    writeFileSync(keys, JSON.stringify({ keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'gw-1' }] }));
    f = await startFrontends(
      { multi: { hostname: '127.0.0.1', idp: 'both' } },
      { env: { GATEWAY_INTROSPECTION_PATH: PATH, GATEWAY_CLIENT_KEYS: `${GW}:${keys}` } },
    );
  });
  after(async () => {
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("replayed jti at another provider's unit (chosen by a session cookie name in the request) is refused", async () => {
    const origin = new URL(f.url['multi']!).origin;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ iss: GW, sub: GW, aud: origin, jti: randomUUID(), iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'gw-1' })
      .sign(key.privateKey);
    const introspect = (cookie?: string) =>
      fetch(`${origin}${PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...(cookie ? { cookie } : {}) },
        body: new URLSearchParams({ token: 'any-handle', client_assertion_type: JWT_BEARER, client_assertion: assertion }),
      });
    assert.equal((await introspect()).status, 200, 'the first use is accepted');
    // Each provider of the frontend is a unit with its own store keys; the request picks the unit by the session cookie it carries.
    for (const { config } of f.service.units) {
      const replay = await introspect(`${cookieNames(config).session}=x`);
      assert.equal(replay.status, 401, `the replay reached unit ${config.frontend!.providerId} and was accepted`);
    }
  });
});
