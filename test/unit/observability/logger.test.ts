import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger } from '../../../src/observability/logger.js';
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

describe('logs: flush() before exit waits for every line already written', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-bff-flush-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves only once a write still in progress (a full pipe) has reached the destination: lines written at exit would otherwise land before it', async () => {
    const fifo = join(dir, 'log.fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader end first (non-blocking), so that opening the writer end does not wait.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const destination = pino.destination({ dest: fifo, sync: false });
    await once(destination, 'ready');
    const log = createLogger('info', destination);
    // More than a pipe holds (64 KB): part of it is still being written when flush() is called.
    const lines = 400;
    for (let i = 0; i < lines; i++) log.event('request.completed', { request_id: `r${i}`, path: `/${'x'.repeat(300)}` });
    let flushed = false;
    const flushing = log.flush().then(() => (flushed = true));
    let text = '';
    const chunk = Buffer.alloc(65_536);
    const readSome = () => {
      for (;;) {
        try {
          const n = readSync(reader, chunk);
          if (n === 0) return;
          text += chunk.toString('utf8', 0, n);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
          throw err;
        }
      }
    };
    // The reader takes what the pipe holds one event-loop turn at a time, as a slow log shipper would.
    while (!flushed) {
      readSome();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await flushing;
    readSome(); // what the last write left in the pipe
    destination.destroy();
    closeSync(reader);
    assert.equal(text.split('\n').filter(Boolean).length, lines, 'flush() resolved while lines were still on their way');
  });
});
