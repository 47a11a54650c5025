import assert from 'node:assert/strict';
import { sameSecret } from '../../../src/web/constant-time.js';

describe('sameSecret: one constant-time compare for presented secrets', () => {
  it('is true only for the same bytes, strings or buffers alike', () => {
    assert.equal(sameSecret('a-token', 'a-token'), true);
    assert.equal(sameSecret(Buffer.from('a-token'), Buffer.from('a-token')), true);
    assert.equal(sameSecret('a-token', 'a-tokeN'), false);
  });

  it('is false, never a throw, for secrets of different lengths (a prefix, an empty string)', () => {
    assert.equal(sameSecret('a-tok', 'a-token'), false);
    assert.equal(sameSecret('', 'a-token'), false);
    assert.equal(sameSecret('a-token-and-more', 'a-token'), false);
  });
});
