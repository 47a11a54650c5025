import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load.js';
import { problemsOf, randomSecret as random, VALID_ENV as VALID } from './config-fixture.js';

describe('configuration: FORWARD_AUTH_*', () => {
  it('is off by default, trusting loopback only once on', () => {
    const c = loadConfig(VALID, random);
    assert.equal(c.forwardAuth.path, undefined);
    assert.deepEqual(c.forwardAuth.trustedIps, ['127.0.0.0/8', '::1']);
    assert.equal(c.forwardAuth.identityHeaders, false);
    assert.ok(Object.isFrozen(c.forwardAuth.trustedIps));
  });

  it('takes a path, a list of addresses and blocks, and the identity switch', () => {
    const c = loadConfig(
      { ...VALID, FORWARD_AUTH_PATH: '/auth', FORWARD_AUTH_TRUSTED_IPS: ' 10.0.0.5, 172.16.0.0/12 ,fd00::/8', FORWARD_AUTH_IDENTITY_HEADERS: 'true' },
      random,
    );
    assert.equal(c.forwardAuth.path, '/auth');
    assert.deepEqual(c.forwardAuth.trustedIps, ['10.0.0.5', '172.16.0.0/12', 'fd00::/8']);
    assert.equal(c.forwardAuth.identityHeaders, true);
  });

  it('refuses addresses that are not IPs or CIDR blocks, naming each', () => {
    const problems = problemsOf({ ...VALID, FORWARD_AUTH_TRUSTED_IPS: 'gateway.internal,10.0.0.0/33,::1/129,10.0.0.0/8/1,1.2.3' });
    for (const bad of ['gateway.internal', '10.0.0.0/33', '::1/129', '10.0.0.0/8/1', '1.2.3']) {
      assert.ok(
        problems.some((p) => p.includes(`"${bad}"`)),
        `${bad} missing from ${JSON.stringify(problems)}`,
      );
    }
  });

  it('refuses a path that shadows another route or lies under API_PATH', () => {
    for (const [path, hint] of [
      ['/', 'must not be /'],
      ['/login', 'shadow /login'],
      ['/api/auth', 'API_PATH'],
      ['/api', 'API_PATH'],
      ['/readyz', 'shadow /readyz'],
      ['auth', 'absolute path'],
      ['/auth/', 'absolute path'],
    ] as const) {
      assert.ok(
        problemsOf({ ...VALID, FORWARD_AUTH_PATH: path }).some((p) => p.includes(hint)),
        path,
      );
    }
    assert.ok(problemsOf({ ...VALID, FORWARD_AUTH_PATH: '/gw', LOGIN_PATH: '/gw/login' }).some((p) => p.includes('shadow /gw/login')));
  });
});
