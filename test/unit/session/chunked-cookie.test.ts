import assert from 'node:assert/strict';
import { cookieMap, presentChunkNames, readChunks, splitIntoChunks, CHUNK_SIZE } from '../../../src/session/chunked-cookie.js';
import { createSealer } from '../../../src/session/seal.js';

const SECRET = 'chunk-test-secret-0123456789-0123456789-abc';
const sealer = createSealer([SECRET]);
const AAD = 'cookie session v1';
const big = sealer.seal(JSON.stringify({ payload: 'p'.repeat(9000) }), AAD);
const chunks = splitIntoChunks('bff-session', big);
const header = (pairs: Array<[string, string]>) => pairs.map(([n, v]) => `${n}=${v}`).join('; ');
const unsealed = (pairs: Array<[string, string]>) => {
  const value = readChunks(cookieMap(header(pairs)), 'bff-session');
  return value === undefined ? undefined : sealer.unseal(value, AAD)?.plaintext;
};
const flipAt = (v: string, i: number) => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);

describe('chunked cookies: split over 4 KB, reassembled, and any tampering means anonymous', () => {
  it('splits a 12 KB sealed value into name, name.1, name.2… each under the chunk size', () => {
    assert.deepEqual(
      chunks.map(([n]) => n),
      ['bff-session', 'bff-session.1', 'bff-session.2', 'bff-session.3'],
    );
    assert.ok(chunks.every(([, v]) => v.length <= CHUNK_SIZE));
  });

  it('keeps a small value in one cookie under the plain name', () => {
    assert.deepEqual(
      splitIntoChunks('bff-session', 'short').map(([n]) => n),
      ['bff-session'],
    );
  });

  it('reassembles the chunks into the sealed value, in any header order', () => {
    assert.ok(unsealed(chunks)?.includes('ppp'));
    assert.ok(unsealed([...chunks].reverse())?.includes('ppp'));
  });

  const cases: Array<[string, Array<[string, string]>]> = [
    ...chunks.map(([name], i): [string, Array<[string, string]>] => [
      `a flipped byte in chunk ${i} (${name})`,
      chunks.map(([n, v], j) => [n, j === i ? flipAt(v, 40) : v]),
    ]),
    ['the last chunk missing', chunks.slice(0, -1)],
    ['a middle chunk missing', chunks.filter((_, i) => i !== 1)],
    ['the first chunk missing', chunks.slice(1)],
    ['an extra chunk appended', [...chunks, ['bff-session.4', 'AAAA']]],
    ['two chunks swapped', chunks.map(([n], i) => [n, chunks[i === 1 ? 2 : i === 2 ? 1 : i]![1]])],
    ['a wrong format version', chunks.map(([n, v], i) => [n, i === 0 ? `2${v.slice(1)}` : v])],
    ['an unknown key id', chunks.map(([n, v], i) => [n, i === 0 ? `1.ZZZZZZZZ${v.slice(10)}` : v])],
    ['a truncated last chunk', chunks.map(([n, v], i) => [n, i === chunks.length - 1 ? v.slice(0, -10) : v])],
    ['an empty first chunk', chunks.map(([n, v], i) => [n, i === 0 ? '' : v])],
  ];
  for (const [name, pairs] of cases) {
    it(`refuses ${name}`, () => {
      assert.equal(unsealed(pairs), undefined);
    });
  }

  it('lists the chunk cookies present, so stale ones can be deleted when a session shrinks', () => {
    assert.deepEqual(
      presentChunkNames(cookieMap(header(chunks)), 'bff-session'),
      chunks.map(([n]) => n),
    );
    assert.deepEqual(presentChunkNames(cookieMap('other=1'), 'bff-session'), []);
  });
});
