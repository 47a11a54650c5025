import assert from 'node:assert/strict';
import http from 'node:http';
import Koa from 'koa';
import { listen } from '../../../src/http/server.js';

/**
 * A drain (SIGTERM) tells the responses in progress to close their connections, so a kept-alive
 * client does not send its next request into a listener that is going away. The listener finds
 * them through its open connections (src/http/open-connections.ts).
 */
describe('draining the public listener (src/http/server.ts)', () => {
  it('a response in progress when the drain starts goes out with Connection: close, on a kept-alive connection', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inHandler = new Promise<void>((resolve) => (arrived = resolve));
    const app = new Koa();
    app.use(async (ctx) => {
      arrived();
      await held;
      ctx.body = 'done';
    });
    const listening = await listen(app, '127.0.0.1', 0);
    const agent = new http.Agent({ keepAlive: true });
    try {
      const response = new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: listening.port, path: '/', agent }, resolve).on('error', reject);
      });
      await inHandler;
      const drained = listening.drain(5_000);
      release();
      const res = await response;
      res.resume();
      assert.equal(res.headers['connection'], 'close');
      await drained;
    } finally {
      agent.destroy();
    }
  });
});
