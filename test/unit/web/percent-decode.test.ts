import assert from 'node:assert/strict';
import { everyDecodedForm } from '../../../src/web/percent-decode.js';

describe('everyDecodedForm: a bounded percent-decoder that shows every form to the caller', () => {
  const forms = (value: string, rounds = 3) => {
    const seen: string[] = [];
    const ok = everyDecodedForm(value, rounds, (form) => (seen.push(form), true));
    return { ok, seen };
  };

  it('visits the raw value and each decoding of it, and stops at the first form without %', () => {
    assert.deepEqual(forms('/a%252Fb'), { ok: true, seen: ['/a%252Fb', '/a%2Fb', '/a/b'] });
    assert.deepEqual(forms('/plain'), { ok: true, seen: ['/plain'] });
  });

  it('refuses a value that still changes after the bound (deep double encoding)', () => {
    assert.equal(forms('%2525252F', 2).ok, false);
  });

  it('refuses a malformed escape instead of throwing', () => {
    assert.equal(forms('/a%E0%A4%A').ok, false);
    assert.equal(forms('/a%zz').ok, false);
  });

  it('stops at the first form the caller refuses', () => {
    const seen: string[] = [];
    assert.equal(
      everyDecodedForm('%252e%252e', 3, (form) => (seen.push(form), !form.includes('..'))),
      false,
    );
    assert.deepEqual(seen, ['%252e%252e', '%2e%2e', '..']);
  });
});
