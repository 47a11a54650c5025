import assert from 'node:assert/strict';
import { authenticationProblem, idTokenIatProblem, requestedAuthentication } from '../../../src/oidc/id-token-checks.js';

const NOW = 1_700_000_000;
const bounds = { nowSeconds: NOW, toleranceSeconds: 60 };

describe('ID token checks (iat, acr, auth_time)', () => {
  const iatCases: Array<[string, unknown, string | undefined]> = [
    ['iat now', NOW, undefined],
    ['iat at the edge of the tolerance', NOW + 60, undefined],
    ['iat one second past the tolerance', NOW + 61, 'iat in the future'],
    ['iat a day in the future', NOW + 86_400, 'iat in the future'],
    ['iat at the max age', NOW - 600, undefined],
    ['iat one second older than the max age', NOW - 601, 'iat too old'],
    ['iat as a string', String(NOW), 'iat missing'],
    ['no iat', undefined, 'iat missing'],
  ];
  for (const [name, iat, expected] of iatCases) {
    it(`${name}: ${expected ?? 'accepted'}`, () => {
      assert.equal(idTokenIatProblem(iat === undefined ? {} : { iat }, 600, bounds), expected);
    });
  }

  it('checks acr only when acr_values were requested', () => {
    assert.equal(authenticationProblem({}, {}, bounds), undefined);
    assert.equal(authenticationProblem({ acr: 'b' }, { acrValues: ['a', 'b'] }, bounds), undefined);
    assert.match(authenticationProblem({ acr: 'c' }, { acrValues: ['a', 'b'] }, bounds)!, /not one of/);
    assert.match(authenticationProblem({}, { acrValues: ['a'] }, bounds)!, /acr missing/);
    assert.match(authenticationProblem({ acr: ['a'] }, { acrValues: ['a'] }, bounds)!, /acr missing/);
  });

  it('checks auth_time against max_age plus the tolerance', () => {
    assert.equal(authenticationProblem({ auth_time: NOW - 120 }, { maxAge: 60 }, bounds), undefined);
    assert.match(authenticationProblem({ auth_time: NOW - 121 }, { maxAge: 60 }, bounds)!, /older than max_age/);
    assert.match(authenticationProblem({}, { maxAge: 60 }, bounds)!, /auth_time missing/);
    assert.match(authenticationProblem({ auth_time: NOW + 3600 }, { maxAge: 60 }, bounds)!, /in the future/);
    assert.equal(authenticationProblem({ auth_time: NOW }, { maxAge: 0 }, bounds), undefined);
  });

  it('reads what was requested from the final authorization request', () => {
    assert.deepEqual(requestedAuthentication(new URLSearchParams('acr_values=a%20b&max_age=300')), { acrValues: ['a', 'b'], maxAge: 300 });
    assert.deepEqual(requestedAuthentication(new URLSearchParams('prompt=login')), {});
  });
});
