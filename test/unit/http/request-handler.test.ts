import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { requestHandler } from '../../../src/http/request-handler.js';

/** Serves `app` through requestHandler on a free port; returns its URL and a closer. */
async function serve(app: Koa): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(requestHandler(app));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("request handler: Koa's answers as app.callback() sends them, nothing added to a response the proxy wrote", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("a route's own status, headers and JSON body reach the client (not Koa's 404 default)", async () => {
    const app = new Koa();
    app.use((ctx) => {
      ctx.status = 201;
      ctx.set('X-Test', 'yes');
      ctx.body = { made: true };
    });
    const served = await serve(app);
    close = served.close;
    const res = await fetch(`${served.url}/x`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-test'), 'yes');
    assert.deepEqual(await res.json(), { made: true });
  });

  it('a path no step answers is a 404, and an error a step throws is Koa’s 500', async () => {
    const app = new Koa();
    app.silent = true;
    app.use((ctx, next) => {
      if (ctx.path === '/boom') throw new Error('boom');
      return next();
    });
    const served = await serve(app);
    close = served.close;
    assert.equal((await fetch(`${served.url}/nothing`)).status, 404);
    assert.equal((await fetch(`${served.url}/boom`)).status, 500);
  });

  it('a response written by the step itself (ctx.respond = false) gets nothing more from Koa: no body, no response watch', async () => {
    const app = new Koa();
    const finishListeners: number[] = [];
    app.use((ctx) => {
      // Koa's on-finished (app.callback()) has added a 'finish' listener of its own by now.
      finishListeners.push(ctx.res.listenerCount('finish'));
      ctx.respond = false;
      ctx.res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '4' });
      ctx.res.end('mine');
    });
    const served = await serve(app);
    close = served.close;
    const res = await fetch(`${served.url}/p`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'mine');

    const viaCallback = http.createServer(app.callback());
    await new Promise<void>((resolve) => viaCallback.listen(0, '127.0.0.1', resolve));
    await (await fetch(`http://127.0.0.1:${(viaCallback.address() as AddressInfo).port}/p`)).text();
    await new Promise<void>((resolve) => viaCallback.close(() => resolve()));
    const [ours, koas] = finishListeners;
    assert.ok(koas! > ours!, `app.callback() watches the response (${koas} 'finish' listeners), requestHandler does not (${ours})`);
  });
});
