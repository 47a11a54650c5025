import assert from 'node:assert/strict';
import { clientKey } from '../../../src/web/address-match.js';

describe('rate-limit budgets belong to an IPv4 address or an IPv6 /64', () => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ];
  for (const [ip, key] of cases) {
    it(`${ip} → ${key}`, () => assert.equal(clientKey(ip), key));
  }

  it('gives every address of one /64 the same budget', () => {
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
  });
});
