import assert from 'node:assert/strict';
import { listen, type Listening } from '../../src/http/server.js';
import { startHarness, type Harness } from '../support/harness.js';

const ADMIN_TOKEN = 'an-admin-token-that-is-long-enough-0123456789';

describe('admin token guesses are rate-limited and audited', () => {
  let h: Harness;
  let admin: Listening;
  before(async () => {
    h = await startHarness({ env: { ADMIN_TOKEN, RATE_LIMIT_PER_MINUTE: '5', TRUST_PROXY: '1' } });
    admin = await listen(h.bff.admin, '127.0.0.1', 0);
  });
  after(async () => {
    await admin?.drain(0);
    await h?.close();
  });
  const guess = (token: string, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${admin.port}/admin/sessions?sub=alice`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  it('attack: guessing the admin token gets 429 after RATE_LIMIT_PER_MINUTE guesses, whatever X-Forwarded-For says, and each failure is an audited event', async () => {
    const statuses: number[] = [];
    // A guesser rotating X-Forwarded-For gains nothing: the admin listener counts the connection's address.
    for (let i = 0; i < 8; i++) statuses.push((await guess(`guess-${i}-${'x'.repeat(40)}`, { 'x-forwarded-for': `6.6.6.${i}` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // Past the budget even the right token waits: the guesser cannot tell a hit from a miss.
    assert.equal((await guess(ADMIN_TOKEN)).status, 429);
    const failures = h.logs.named('admin.auth_failed');
    assert.equal(failures.length, 5);
    assert.ok(failures.every((e) => e['level'] === 'warn' && e['client'] === '127.0.0.1' && e['path'] === '/admin/sessions'));
    assert.ok(!h.logs.text().includes('guess-0-'), 'a guessed token is never logged');
    assert.equal(h.logs.named('admin.audit').filter((e) => e['reason'] === 'rate_limited').length, 4);
  });
});
