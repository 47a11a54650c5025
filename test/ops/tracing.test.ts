import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { idpFaults } from '../support/faults.js';
import { startHarness } from '../support/harness.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing: traceparent and the request id travel with the request', () => {
  it('passes an incoming traceparent to the upstream and to the IdP calls made for that request', async () => {
    const clock = testClock();
    const faults = idpFaults();
    const seen: Array<{ url: string; traceparent: string | undefined }> = [];
    faults.set((url, init) => {
      seen.push({ url, traceparent: (init.headers as Record<string, string> | undefined)?.['traceparent'] });
      return undefined;
    });
    const h = await startHarness({ now: clock.now, idpFetch: faults.fetch });
    try {
      const ua = h.browser();
      await h.login(ua);
      clock.advance(300_001);
      const res = await h.api(ua, '/traced', { headers: { traceparent: TRACEPARENT } });
      assert.equal(res.status, 200);
      const upstream = h.upstream.received.at(-1)!;
      assert.equal(upstream.headers['traceparent'], TRACEPARENT);
      assert.equal(upstream.headers['x-request-id'], res.headers.get('x-request-id'));
      const refresh = seen.filter((s) => s.url.endsWith('/token')).at(-1);
      assert.equal(refresh?.traceparent, TRACEPARENT);
      assert.equal(seen.filter((s) => s.url.endsWith('/token'))[0]?.traceparent, undefined, 'the login carried no traceparent');
    } finally {
      await h.close();
    }
  });

  it('puts the request id in every log line of a request and on its error page', async () => {
    const h = await startHarness();
    try {
      const res = await h.browser().get(`${h.url}/callback?state=nope&code=x`);
      const id = res.headers.get('x-request-id')!;
      assert.match(res.text, new RegExp(id));
      const lines = h.logs
        .events()
        .filter((e) => e['request_id'] === id)
        .map((e) => e.event);
      assert.deepEqual(lines.sort(), ['callback.state_invalid', 'request.completed']);
    } finally {
      await h.close();
    }
  });
});
