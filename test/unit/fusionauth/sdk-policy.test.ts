import assert from 'node:assert/strict';
import type { FusionAuthSdkConfig } from '../../../src/config/load.js';
import { expiryCookie } from '../../../src/fusionauth/expiry-cookie.js';
import { allowedRedirect, checkClientId, sdkState } from '../../../src/fusionauth/sdk-policy.js';

const sdk: FusionAuthSdkConfig = {
  clientId: 'spa',
  redirectUris: ['https://app.example.test/', 'https://app.example.test/signed-out'],
  origins: ['https://app.example.test'],
  registerParams: [['prompt', 'create']],
  accountUrl: undefined,
  expiryCookie: 'app.at_exp',
  pathPrefix: '',
};
const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'accepted';
};

describe('FusionAuth SDK policy (src/fusionauth/sdk-policy.ts)', () => {
  it('redirect_uri: an exact entry (compared as URLs), or the first entry when absent', () => {
    assert.equal(allowedRedirect('https://app.example.test/signed-out', sdk), 'https://app.example.test/signed-out');
    assert.equal(allowedRedirect('HTTPS://APP.example.test:443/', sdk), 'https://app.example.test/');
    // The empty path of an origin is the path /: the same URL.
    assert.equal(allowedRedirect('https://app.example.test', sdk), 'https://app.example.test/');
    assert.equal(allowedRedirect(undefined, sdk), 'https://app.example.test/');
  });

  it('redirect_uri: anything else is redirect_uri_refused (arrays, huge values, prefixes, fragments)', () => {
    for (const raw of [
      ['https://app.example.test/'],
      `https://app.example.test/?${'a'.repeat(3000)}`,
      'https://app.example.test/signed-out/x',
      'https://app.example.test/#x',
      'not a url',
      '',
    ]) {
      assert.equal(
        code(() => allowedRedirect(raw, sdk)),
        'redirect_uri_refused',
        String(raw).slice(0, 60),
      );
    }
  });

  it('client_id: absent or the configured one; any other value (or an array) is invalid_request', () => {
    assert.equal(
      code(() => checkClientId(undefined, sdk)),
      'accepted',
    );
    assert.equal(
      code(() => checkClientId('spa', sdk)),
      'accepted',
    );
    assert.equal(
      code(() => checkClientId('other', sdk)),
      'invalid_request',
    );
    assert.equal(
      code(() => checkClientId(['spa', 'spa'], sdk)),
      'invalid_request',
    );
  });

  it('state: a bounded string or nothing', () => {
    assert.equal(sdkState(undefined), undefined);
    assert.equal(sdkState('a:b'), 'a:b');
    assert.equal(
      code(() => sdkState(['a', 'b'])),
      'invalid_request',
    );
    assert.equal(
      code(() => sdkState('x'.repeat(1025))),
      'invalid_request',
    );
  });

  it('app.at_exp: readable by script (no HttpOnly), Secure with an https PUBLIC_URL, Max-Age counting down to the expiry', () => {
    const secure = expiryCookie(sdk, true);
    assert.equal(secure.set(1_000_600, 1_000_000_000), 'app.at_exp=1000600; Path=/; SameSite=Lax; Secure; Max-Age=600');
    assert.equal(expiryCookie(sdk, false).set(5, 10_000), 'app.at_exp=5; Path=/; SameSite=Lax; Max-Age=0');
    assert.match(secure.expired(), /^app\.at_exp=; Path=\/; SameSite=Lax; Secure; Max-Age=0; Expires=/);
  });
});
