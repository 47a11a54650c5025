import assert from 'node:assert/strict';
import { HANDLE_GATEWAY, handleFixture } from '../support/handle-fixture.js';

describe('gateway handles: a claim of the index that reports "taken" while the index holds this request\'s own handle', () => {
  it('never deletes the record of the handle it then sends (a SET NX applied but answered as not applied: a resend after a lost reply)', async () => {
    const f = handleFixture({ expiresAt: (now) => now + 600_000 });
    try {
      // The first SET NX on the index is applied, but its reply is lost; the client's resend
      // finds the key (its own write) and answers "not set".
      let lostReply = false;
      const handles = f.handles((inner) => ({
        ...inner,
        setIfAbsent: async (key, value, ttl) => {
          const claimed = await inner.setIfAbsent(key, value, ttl);
          if (claimed && key.startsWith('hi:') && !lostReply) {
            lostReply = true;
            return inner.setIfAbsent(key, value, ttl);
          }
          return claimed;
        },
      }));
      const handle = await f.send(handles);
      assert.equal(lostReply, true, 'the lost reply did not take place: the test drives nothing');
      const answer = await handles.resolve(handle, HANDLE_GATEWAY.id);
      // And not once: the index names that handle for the token's lifetime, so later requests
      // (past the 30 s this instance remembers it) read it from the store and send it again.
      f.clock.advance(31_000);
      assert.equal(await f.send(handles), handle);
      assert.equal(answer.active, true, `the request sent its upstream a handle the store does not know (${answer.active ? '' : answer.reason})`);
    } finally {
      f.remove();
    }
  });
});
