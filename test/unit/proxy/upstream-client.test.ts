import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { createUpstreamClient, UpstreamNoResponseError, UpstreamTimeoutError } from '../../../src/proxy/upstream-client.js';

/**
 * An upstream that answers the first request on each connection (keep-alive) and drops the
 * connection when a second one arrives on it: what a request meets when the upstream closes an
 * idle keep-alive connection just as the BFF reuses it.
 */
async function startFlakyUpstream() {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    let served = 0;
    socket.on('data', () => {
      if (served++ === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
      else socket.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const bodyOf = async (res: NodeJS.ReadableStream) => {
  let text = '';
  for await (const chunk of res) text += String(chunk);
  return text;
};

describe('upstream client: keep-alive connections the upstream closed', () => {
  it('retries an idempotent request without a body once on a fresh connection', async () => {
    const upstream = await startFlakyUpstream();
    const client = createUpstreamClient(upstream.origin, { timeoutMs: 5_000, connections: 256 });
    try {
      const first = await client.call({ method: 'GET', path: '/a', headers: {}, body: null }).response;
      assert.equal(await bodyOf(first), 'ok');
      const second = await client.call({ method: 'GET', path: '/b', headers: {}, body: null }).response;
      assert.equal(second.statusCode, 200);
      await bodyOf(second);
      assert.equal(upstream.connections(), 2);
    } finally {
      client.close();
      await upstream.close();
    }
  });

  it('never replays a POST: the error reaches the caller', async () => {
    const upstream = await startFlakyUpstream();
    const client = createUpstreamClient(upstream.origin, { timeoutMs: 5_000, connections: 256 });
    try {
      await bodyOf(await client.call({ method: 'POST', path: '/a', headers: { 'content-length': '0' }, body: null }).response);
      await assert.rejects(client.call({ method: 'POST', path: '/b', headers: { 'content-length': '0' }, body: null }).response, { code: 'ECONNRESET' });
      assert.equal(upstream.connections(), 1);
    } finally {
      client.close();
      await upstream.close();
    }
  });
});

describe('upstream client: an upstream that never answers', () => {
  it('fails with UpstreamTimeoutError once the request is sent and no response headers come', async () => {
    const server = net.createServer(() => undefined); // accepts, reads, never writes
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { timeoutMs: 200, connections: 256 });
    try {
      await assert.rejects(client.call({ method: 'GET', path: '/', headers: {}, body: null }).response, (err) => err instanceof UpstreamTimeoutError);
    } finally {
      client.close();
      server.close();
    }
  });
});

describe('upstream client: idle pooled connections', () => {
  it('closes a connection left idle in the pool within idleSocketMs (before the upstream would close it under a request)', async () => {
    const closed: Array<Promise<unknown>> = [];
    const server = http.createServer((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 60_000; // the upstream keeps it: only the client's own sweep can close it
    server.on('connection', (socket: net.Socket) => closed.push(once(socket, 'close')));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), {
      timeoutMs: 5_000,
      connections: 4,
      idleSocketMs: 200,
    });
    try {
      const started = performance.now();
      assert.equal(await bodyOf(await client.call({ method: 'GET', path: '/', headers: {}, body: null }).response), 'ok');
      assert.equal(closed.length, 1);
      await closed[0];
      // Swept once idle for 3/4 of idleSocketMs, within idleSocketMs plus one sweep's slack.
      const idle = performance.now() - started;
      assert.ok(idle >= 150, `closed after ${idle} ms: too early`);
    } finally {
      client.close();
      server.close();
    }
  });
});

describe('upstream client: an upstream that stalls mid-body', () => {
  it('fails the response body with UpstreamTimeoutError (phase response body) after a gap of the timeout', async () => {
    // Headers and half the declared body, then nothing: the body must not hang the proxy forever.
    const server = net.createServer((socket) => socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf.')));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { timeoutMs: 150, connections: 256 });
    try {
      const response = await client.call({ method: 'GET', path: '/', headers: {}, body: null }).response;
      const failed = await once(response.resume(), 'error').then(([err]) => err as unknown);
      assert.ok(failed instanceof UpstreamTimeoutError && failed.phase === 'response body', String(failed));
    } finally {
      client.close();
      server.close();
    }
  });

  it('a body that came whole with its headers is handed over intact', async () => {
    const upstream = await rawUpstream('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole');
    const client = createUpstreamClient(upstream.origin, { timeoutMs: 150, connections: 256 });
    try {
      const response = await client.call({ method: 'GET', path: '/', headers: { 'x-a': ['1', '2'] }, body: null }).response;
      assert.equal(await bodyOf(response), 'whole');
    } finally {
      client.close();
      upstream.close();
    }
  });
});

/** A raw upstream whose answer to every request is `reply` (bytes written as they are). */
async function rawUpstream(reply: string) {
  const server = net.createServer((socket) => socket.once('data', () => socket.write(reply)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { origin: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), close: () => server.close() };
}

describe('upstream client: answers the proxy cannot carry', () => {
  it('settles a 101 Switching Protocols as an error instead of hanging', async () => {
    const upstream = await rawUpstream('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const client = createUpstreamClient(upstream.origin, { timeoutMs: 5_000, connections: 256 });
    try {
      await assert.rejects(client.call({ method: 'GET', path: '/', headers: {}, body: null }).response, (err) => err instanceof UpstreamNoResponseError);
    } finally {
      client.close();
      upstream.close();
    }
  });
});

describe('upstream client: a slow client is not blamed on the upstream', () => {
  let server: http.Server;
  let origin: URL;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.end(Buffer.alloc(4 * 1024 * 1024, 'x'));
        return;
      }
      let size = 0;
      req.on('data', (c: Buffer) => (size += c.length)).on('end', () => res.end(String(size)));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('an upload that pauses longer than the timeout still gets its answer', async () => {
    const client = createUpstreamClient(origin, { timeoutMs: 100, connections: 256 });
    const body = new PassThrough();
    try {
      const call = client.call({ method: 'POST', path: '/upload', headers: { 'transfer-encoding': 'chunked' }, body });
      body.write('first');
      // The browser stalls for three timeouts; the upstream is waiting for it, not the other way round.
      await new Promise<void>((resolve) => setTimeout(resolve, 300).unref());
      body.end('second');
      assert.equal(await bodyOf(await call.response), String('firstsecond'.length));
    } finally {
      client.close();
    }
  });

  it('a response the client stops reading for longer than the timeout arrives whole', async () => {
    const client = createUpstreamClient(origin, { timeoutMs: 100, connections: 256 });
    try {
      const response = await client.call({ method: 'GET', path: '/big', headers: {}, body: null }).response;
      response.pause();
      let received = 0;
      const whole = new Promise<void>((resolve, reject) => response.on('end', resolve).on('error', reject));
      // Backpressure: the reader is away for three timeouts before it reads on.
      await new Promise<void>((resolve) => setTimeout(resolve, 300).unref());
      response.on('data', (c: Buffer) => (received += c.length));
      response.resume();
      await whole;
      assert.equal(received, 4 * 1024 * 1024);
    } finally {
      client.close();
    }
  });
});

describe('upstream client: an upstream that stops reading an upload', () => {
  it('attack: an upstream that takes no more of the request body fails with UpstreamTimeoutError (phase request body), the call does not hang', async () => {
    // Accepts the connection and never reads: the upload fills the socket buffers and the pipe
    // holds the client's body paused, so the client's own idle timer (API_BODY_IDLE_TIMEOUT)
    // rightly stops, and the call held its slots for as long as the upstream kept the connection.
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.pause();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { timeoutMs: 200, connections: 2 });
    const size = 64 * 1024 * 1024;
    const body = new PassThrough();
    // The client keeps sending as fast as it is taken.
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < size && body.write(chunk)) sent += chunk.length;
      if (sent < size) body.once('drain', pump);
      else body.end();
    };
    pump();
    let deadline: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        client.call({ method: 'PUT', path: '/upload', headers: { 'content-length': String(size) }, body }).response.then(
          () => 'a response',
          (err: unknown) => err,
        ),
        new Promise((resolve) => (deadline = setTimeout(() => resolve('still waiting after 5 s'), 5_000))),
      ]);
      assert.ok(outcome instanceof UpstreamTimeoutError, `got ${String(outcome)}`);
      assert.equal(outcome.phase, 'request body');
    } finally {
      clearTimeout(deadline);
      body.destroy();
      client.close();
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});

describe('upstream client: body bytes that arrive while the client reads slowly', () => {
  it('an upstream that trickles bytes while the reader is paused is not cut as an upstream timeout: the slow reader is the write-idle bound’s to judge', async () => {
    // Headers and a first part at once; a second part when the test says, the end later still.
    const parts: net.Socket[] = [];
    const server = net.createServer((socket) =>
      socket.once('data', () => {
        parts.push(socket);
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\npart1');
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const timeoutMs = 100;
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { timeoutMs, connections: 256 });
    try {
      const response = await client.call({ method: 'GET', path: '/', headers: {}, body: null }).response;
      const failed = new Promise<unknown>((resolve) => response.on('error', resolve));
      // The client stops reading (backpressure pauses the body), and then the upstream sends more.
      response.pause();
      const arrived = once(response.socket, 'data');
      parts[0]!.write('part2');
      await arrived;
      // The reader stays away for three of the upstream's timeouts, then reads on.
      const away = await Promise.race([failed, new Promise((resolve) => setTimeout(resolve, 3 * timeoutMs, 'still paused').unref())]);
      assert.equal(away, 'still paused', `the paused body was cut as the upstream's fault: ${String(away)}`);
      parts[0]!.write('part3');
      assert.equal(await bodyOf(response), 'part1part2part3');
    } finally {
      client.close();
      for (const socket of parts) socket.destroy();
      server.close();
    }
  });
});

describe('upstream client: the one replay on a pooled connection the upstream reset', () => {
  it('gets what is left of the call’s API_TIMEOUT, not a whole new one: a reset late in the call does not nearly double it', async () => {
    // Long enough that the margin between the two outcomes (1 vs 1.8 timeouts) outlasts a busy machine's event-loop lag.
    const timeoutMs = 1000;
    const sockets = new Set<net.Socket>();
    let connections = 0;
    // Connection 1 answers its first request and resets the next one after most of the timeout;
    // the replay's connection never answers.
    const server = net.createServer((socket) => {
      sockets.add(socket);
      if (++connections > 1) return;
      let served = 0;
      socket.on('data', () => {
        if (served++ === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        else setTimeout(() => socket.destroy(), 0.8 * timeoutMs).unref();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { timeoutMs, connections: 256 });
    try {
      assert.equal(await bodyOf(await client.call({ method: 'GET', path: '/a', headers: {}, body: null }).response), 'ok');
      const started = performance.now();
      await assert.rejects(client.call({ method: 'GET', path: '/b', headers: {}, body: null }).response, (err) => err instanceof UpstreamTimeoutError);
      const took = performance.now() - started;
      assert.equal(connections, 2, 'the call was not replayed on a fresh connection: the test drives nothing');
      assert.ok(took < 1.4 * timeoutMs, `the call took ${Math.round(took)} ms against a timeout of ${timeoutMs} ms`);
    } finally {
      client.close();
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
