import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';

describe('smoke', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.close());

  it('logs in, calls the API, logs out', async () => {
    const ua = h.browser();
    const cb = await h.login(ua, '?returnTo=/dash');
    console.log(cb.status, cb.headers.get('location'), cb.text.slice(0, 300));
    const s = await ua.get(`${h.url}/session`);
    console.log(s.status, s.text);
    const a = await h.api(ua, '/hello?x=1');
    console.log(a.status, a.text.slice(0, 500));
    const r = await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    console.log(r.status, r.text);
    const l = await ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1' } });
    console.log(l.status, l.text);
    console.log(h.logs.lines.slice(-10).join('\n'));
    assert.equal(cb.status, 302);
  });
});
