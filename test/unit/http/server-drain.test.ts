import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import Koa from 'koa';
import { listen, type Listening } from '../../../src/http/server.js';

/** Everything a raw connection receives until the server closes it (a reset included). */
async function readUntilClosed(socket: net.Socket): Promise<string> {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined); // a request written into a connection the server closed
  await once(socket, 'close');
  return text;
}

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

  it('a response that announced keep-alive before the drain ends its connection once it is out, and the pipelined response Node sends next on it says Connection: close', async () => {
    const stream = new PassThrough();
    let firstResponse!: http.ServerResponse;
    let secondArrived!: () => void;
    const secondInHandler = new Promise<void>((resolve) => (secondArrived = resolve));
    let releaseSecond!: () => void;
    const secondHeld = new Promise<void>((resolve) => (releaseSecond = resolve));
    const app = new Koa();
    let calls = 0;
    app.use(async (ctx) => {
      if (++calls === 1) {
        firstResponse = ctx.res;
        ctx.body = stream; // headers go out with the first chunk, the end when the test says so
        return;
      }
      secondArrived();
      await secondHeld;
      ctx.body = 'second';
    });
    const listening = await listen(app, '127.0.0.1', 0);
    const socket = net.connect(listening.port, '127.0.0.1');
    const received = readUntilClosed(socket);
    const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(request + request); // pipelined: the second response waits behind the first
    stream.write('first ');
    await Promise.all([waitFor(socket, 'first '), secondInHandler]);
    const drained = listening.drain(5_000);
    stream.end('done');
    await once(firstResponse, 'finish');
    releaseSecond();
    const text = await received;
    await drained;
    const heads = text.split('HTTP/1.1 ').slice(1);
    assert.equal(heads.length, 2, text);
    assert.match(heads[0]!, /^200 .*\r\nconnection: keep-alive\r\n/is);
    assert.match(heads[1]!, /^200 .*\r\nconnection: close\r\n.*second$/is);
  });

  it('a response that announced keep-alive before the drain ends its connection once it is out: the next request on it finds the connection closed, not a 503', async () => {
    const stream = new PassThrough();
    const app = new Koa();
    app.use((ctx) => {
      ctx.body = stream;
    });
    const listening = await listen(app, '127.0.0.1', 0);
    const socket = net.connect(listening.port, '127.0.0.1');
    const received = readUntilClosed(socket);
    const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(request);
    stream.write('first ');
    await waitFor(socket, 'first ');
    const drained = listening.drain(5_000);
    stream.end('done');
    await waitFor(socket, '0\r\n\r\n'); // the end of the chunked body
    if (!socket.destroyed) socket.write(request); // at once, as a kept-alive client would
    const text = await received;
    await drained;
    assert.equal(text.split('HTTP/1.1 ').length - 1, 1, text);
    assert.doesNotMatch(text, /HTTP\/1\.1 503/);
  });

  it('a CONNECT client that resets its connection at once does not take the process down', async () => {
    let refused!: () => void;
    const connectRefused = new Promise<void>((resolve) => (refused = resolve));
    const listening = await listen(new Koa(), '127.0.0.1', 0, (status) => {
      if (status === 405) refused();
    });
    const socket = net.connect(listening.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    socket.resetAndDestroy();
    await connectRefused;
    // Settles once the server's side of the connection is closed: an unhandled error on it would
    // have failed this test as an uncaught exception first.
    await listening.drain(5_000);
  });

  it('a CONNECT client that keeps its side open holds neither its socket nor the drain', async () => {
    const listening: Listening = await listen(new Koa(), '127.0.0.1', 0);
    // allowHalfOpen: the client does not close its side when the server has said its last.
    const socket = net.connect({ port: listening.port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    await once(socket, 'end');
    assert.match(text, /^HTTP\/1\.1 405 /);
    // Nothing is left for the drain to wait for: it settles long before its grace is up.
    const outcome = await Promise.race([
      listening.drain(10_000).then(() => 'drained'),
      new Promise<string>((resolve) => setTimeout(resolve, 2_000, 'still draining')),
    ]);
    socket.destroy();
    assert.equal(outcome, 'drained');
  });
});

/** Resolves once the connection has received `text`. */
function waitFor(socket: net.Socket, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (chunk: Buffer | string) => {
      seen += chunk.toString();
      if (seen.includes(text)) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
}
