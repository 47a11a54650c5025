import assert from 'node:assert/strict';
import { HANDLE_GATEWAY, handleFixture } from '../support/handle-fixture.js';

describe('gateway handles of a token without a known expiry (the IdP sent no expires_in)', () => {
  it('a handle remembered in memory is never sent after its store record expired: the upstream never gets a dead handle', async () => {
    const f = handleFixture({ expiresAt: () => 0 });
    try {
      const handles = f.handles();
      await f.send(handles);
      // Every few seconds a request, over more than the 5 minutes a handle of such a token lives.
      for (let t = 0; t < 420; t += 7) {
        f.clock.advance(7_000);
        const handle = await f.send(handles);
        const answer = await handles.resolve(handle, HANDLE_GATEWAY.id);
        assert.equal(answer.active, true, `at ${t + 7} s the upstream got a handle the store no longer knows (${answer.active ? '' : answer.reason})`);
      }
    } finally {
      f.remove();
    }
  });
});
