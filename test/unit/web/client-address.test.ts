import assert from 'node:assert/strict';
import { clientAddressResolver, parseAddress, type ProxyTrust } from '../../../src/web/client-address.js';
import { readCorpus } from '../../support/corpus.js';

const corpus = readCorpus(new URL('../../fixtures/client-address-corpus.txt', import.meta.url), 'refused');

describe('parseAddress: one X-Forwarded-For entry as an IP address, or refused', () => {
  it('has a corpus of accepted and refused entries', () => {
    assert.ok(corpus.filter((c) => c.expected === null).length >= 30);
    assert.ok(corpus.filter((c) => c.expected !== null).length >= 15);
  });
  for (const { line, input, expected } of corpus) {
    it(`${JSON.stringify(input)} → ${expected ?? 'refused'} (line ${line})`, () => assert.equal(parseAddress(input), expected ?? undefined));
  }
});

describe('clientAddressResolver: only trusted proxies may name the client', () => {
  const peer = '10.0.0.5'; // the connection's own address
  const cases: Array<{ name: string; trust: ProxyTrust; socket: string; xff?: string; client: string; viaProxy: boolean }> = [
    { name: 'no proxy trusted: X-Forwarded-For is ignored', trust: { hops: 0 }, socket: peer, xff: '6.6.6.6', client: peer, viaProxy: false },
    { name: 'no proxy trusted: a mapped socket address is its IPv4 address', trust: { hops: 0 }, socket: '::ffff:10.0.0.5', client: peer, viaProxy: false },
    { name: 'one hop: the rightmost entry', trust: { hops: 1 }, socket: peer, xff: '6.6.6.6, 203.0.113.7', client: '203.0.113.7', viaProxy: true },
    {
      name: 'one hop: the port of the rightmost entry is stripped',
      trust: { hops: 1 },
      socket: peer,
      xff: '203.0.113.7:40001',
      client: '203.0.113.7',
      viaProxy: true,
    },
    {
      name: 'one hop: a garbage entry falls back to the socket address',
      trust: { hops: 1 },
      socket: peer,
      xff: '203.0.113.7, unknown',
      client: peer,
      viaProxy: true,
    },
    { name: 'one hop: no header means the socket address', trust: { hops: 1 }, socket: peer, client: peer, viaProxy: true },
    {
      name: 'two hops: the second entry from the right',
      trust: { hops: 2 },
      socket: peer,
      xff: '6.6.6.6, 203.0.113.7, 10.0.0.9',
      client: '203.0.113.7',
      viaProxy: true,
    },
    { name: 'two hops, one entry: the only entry', trust: { hops: 2 }, socket: peer, xff: '203.0.113.7', client: '203.0.113.7', viaProxy: true },
    {
      name: 'list: an untrusted peer cannot name any address',
      trust: { proxies: ['10.1.0.0/16'] },
      socket: peer,
      xff: '6.6.6.6',
      client: peer,
      viaProxy: false,
    },
    {
      name: 'list: a trusted peer names the client',
      trust: { proxies: ['10.0.0.0/24'] },
      socket: peer,
      xff: '203.0.113.7',
      client: '203.0.113.7',
      viaProxy: true,
    },
    {
      name: 'list: trusted proxies are skipped from the right, forged entries left of the client are ignored',
      trust: { proxies: ['10.0.0.0/24', '192.0.2.1'] },
      socket: peer,
      xff: '6.6.6.6, 203.0.113.7, 192.0.2.1, 10.0.0.7',
      client: '203.0.113.7',
      viaProxy: true,
    },
    {
      name: 'list: a forged trusted address left of the real client does not help',
      trust: { proxies: ['10.0.0.0/24'] },
      socket: peer,
      xff: '10.0.0.8, 203.0.113.7',
      client: '203.0.113.7',
      viaProxy: true,
    },
    {
      name: 'list: ip:port entries are stripped while walking',
      trust: { proxies: ['10.0.0.0/24'] },
      socket: peer,
      xff: '203.0.113.7:5555, 10.0.0.7:443',
      client: '203.0.113.7',
      viaProxy: true,
    },
    {
      name: 'list: garbage reached before the client falls back to the socket address',
      trust: { proxies: ['10.0.0.0/24'] },
      socket: peer,
      xff: '203.0.113.7, nonsense, 10.0.0.7',
      client: peer,
      viaProxy: true,
    },
    {
      name: 'list: every entry a trusted proxy means the leftmost one',
      trust: { proxies: ['10.0.0.0/24'] },
      socket: peer,
      xff: '10.0.0.8, 10.0.0.7',
      client: '10.0.0.8',
      viaProxy: true,
    },
    {
      name: 'list: a mapped trusted peer counts as trusted',
      trust: { proxies: ['10.0.0.0/24'] },
      socket: '::ffff:10.0.0.5',
      xff: '2001:db8::7',
      client: '2001:db8::7',
      viaProxy: true,
    },
    {
      name: 'list: IPv6 proxies in CIDR form',
      trust: { proxies: ['fd00::/8'] },
      socket: 'fd00::1',
      xff: '[2001:db8::7]:1234, fd00::2',
      client: '2001:db8::7',
      viaProxy: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const resolve = clientAddressResolver(c.trust);
      assert.deepEqual(resolve(c.socket, c.xff), { address: c.client, viaProxy: c.viaProxy });
    });
  }
});
