import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
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

  it('sends byte for byte what app.callback() sends, whatever the answer (HEAD, empty statuses, redirects, streams, errors)', async () => {
    const app = new Koa();
    app.silent = true;
    app.use((ctx) => {
      switch (ctx.path) {
        case '/json':
          ctx.body = { a: 1 };
          return;
        case '/empty':
          ctx.status = 204;
          ctx.body = 'ignored';
          return;
        case '/not-modified':
          ctx.status = 304;
          return;
        case '/redirect':
          ctx.redirect('/json');
          return;
        case '/stream':
          ctx.type = 'text';
          ctx.body = Readable.from(['one ', 'two']);
          return;
        case '/status-only':
          ctx.status = 418;
          return;
        case '/throws':
          throw Object.assign(new Error('no'), { status: 400, expose: true });
        default:
          return;
      }
    });
    const ours = await serve(app);
    close = ours.close;
    const koas = http.createServer(app.callback());
    await new Promise<void>((resolve) => koas.listen(0, '127.0.0.1', resolve));
    const koaUrl = `http://127.0.0.1:${(koas.address() as AddressInfo).port}`;
    try {
      for (const method of ['GET', 'HEAD']) {
        for (const path of ['/json', '/empty', '/not-modified', '/redirect', '/stream', '/status-only', '/throws', '/nothing']) {
          const [mine, theirs] = await Promise.all([raw(ours.url, method, path), raw(koaUrl, method, path)]);
          assert.equal(mine, theirs, `${method} ${path}`);
        }
      }
    } finally {
      await new Promise<void>((resolve) => koas.close(() => resolve()));
    }
  });

  it('refuses an app whose Koa asyncLocalStorage it would not carry', () => {
    assert.throws(() => requestHandler(new Koa({ asyncLocalStorage: true })), /asyncLocalStorage/);
  });
});

/** The raw bytes of one answer on a connection that closes after it (Date header left out). */
async function raw(url: string, method: string, path: string): Promise<string> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.end(`${method} ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('latin1')
    .replace(/\r\nDate: [^\r]*/i, '');
}
