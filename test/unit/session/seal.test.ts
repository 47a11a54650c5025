import assert from 'node:assert/strict';
import { createSealer } from '../../../src/session/seal.js';

const OLD = 'old-secret-0123456789-0123456789-abcdef';
const NEW = 'new-secret-0123456789-0123456789-abcdef';
const AAD = 'session s:abc';

/** Replaces the character at `i` with another base64url character. */
function flip(s: string, i: number): string {
  const c = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe('sealed values: AES-256-GCM, versioned, with key rotation', () => {
  const sealer = createSealer([NEW, OLD]);
  const sealed = sealer.seal('{"hello":"world"}', AAD);

  it('round-trips under the current key and is not stale', () => {
    assert.deepEqual(sealer.unseal(sealed, AAD), { plaintext: '{"hello":"world"}', stale: false });
  });

  it('starts with the format version and a key id, and does not contain the plaintext', () => {
    assert.match(sealed, /^1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+$/);
    assert.ok(!sealed.includes('hello'));
  });

  it('unseals a value sealed under an older secret and flags it stale (re-seal on next write)', () => {
    const old = createSealer([OLD]).seal('v', AAD);
    assert.deepEqual(sealer.unseal(old, AAD), { plaintext: 'v', stale: true });
  });

  it('gives nothing once the secret that sealed it is removed', () => {
    const old = createSealer([OLD]).seal('v', AAD);
    assert.equal(createSealer([NEW]).unseal(old, AAD), undefined);
  });

  it('gives nothing in another deployment with the same secrets (issuer, client id, public origin bound as associated data)', () => {
    const here = createSealer([NEW], 'https://idp.example/ app-1 https://app1.example');
    const value = here.seal('v', AAD);
    assert.deepEqual(here.unseal(value, AAD), { plaintext: 'v', stale: false });
    for (const there of [
      'https://idp.example/ app-2 https://app1.example',
      'https://other-idp.example/ app-1 https://app1.example',
      'https://idp.example/ app-1 https://app2.example',
      '',
    ]) {
      assert.equal(createSealer([NEW], there).unseal(value, AAD), undefined, there);
    }
  });

  it('gives nothing for a value moved under another key (bound by associated data)', () => {
    assert.equal(sealer.unseal(sealed, 'session s:other'), undefined);
  });

  const payloadStart = sealed.lastIndexOf('.') + 1;
  const tampered: Array<[string, string]> = [
    ['a flipped byte in the IV', flip(sealed, payloadStart + 2)],
    ['a flipped byte in the ciphertext', flip(sealed, payloadStart + 20)],
    ['a flipped byte in the tag', flip(sealed, sealed.length - 3)],
    ['a truncated value', sealed.slice(0, -5)],
    ['an appended value', `${sealed}AAAA`],
    // One or two characters decode to no extra byte: only a canonical-encoding check refuses them.
    ['one character appended (no extra byte once decoded)', `${sealed}A`],
    ['a character inserted as a non-base64url byte', `${sealed.slice(0, payloadStart + 10)}=${sealed.slice(payloadStart + 10)}`],
    ['a wrong version', `2${sealed.slice(1)}`],
    ['an unknown key id', `1.ZZZZZZZZ.${sealed.slice(payloadStart)}`],
    ['an extra dot-separated part', `${sealed}.x`],
    ['an empty string', ''],
    ['a payload too short to hold IV and tag', '1.' + sealed.split('.')[1] + '.AAAA'],
    ['garbage', 'not a sealed value at all'],
  ];
  for (const [name, value] of tampered) {
    it(`refuses ${name}`, () => {
      assert.equal(sealer.unseal(value, AAD), undefined);
    });
  }

  it('uses a fresh IV for every seal', () => {
    assert.notEqual(sealer.seal('same', AAD), sealer.seal('same', AAD));
  });
});
