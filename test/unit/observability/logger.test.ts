import assert from 'node:assert/strict';
import { captureLogs } from '../../support/log-capture.js';

describe('logs: one line per event, whatever the input', () => {
  it('keeps user input with CR/LF inside its field: no forged line', () => {
    const logs = captureLogs('info');
    logs.log.event('logout.refused', { reason: 'sid mismatch\r\n{"level":"error","event":"admin.audit","forged":true}', sub: 'eve\nadmin' });
    assert.equal(logs.lines.length, 1);
    const [event] = logs.events();
    assert.equal(event?.event, 'logout.refused');
    assert.equal(event?.['forged'], undefined);
  });

  it('censors credential-named fields even if a caller passes one by mistake', () => {
    const logs = captureLogs('info');
    logs.log.event('request.failed', { reason: 'x', ...({ access_token: 'secret-token', cookie: 'bff-session=abc' } as object) });
    assert.ok(!logs.text().includes('secret-token'));
    assert.ok(!logs.text().includes('bff-session=abc'));
  });
});
