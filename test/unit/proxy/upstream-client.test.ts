import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createUpstreamClient, UpstreamTimeoutError } from '../../../src/proxy/upstream-client.js';

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
    const client = createUpstreamClient(upstream.origin, 5_000);
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
    const client = createUpstreamClient(upstream.origin, 5_000);
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
  it('fails with UpstreamTimeoutError after the timeout of inactivity', async () => {
    const server = net.createServer(() => undefined); // accepts, reads, never writes
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createUpstreamClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 200);
    try {
      await assert.rejects(client.call({ method: 'GET', path: '/', headers: {}, body: null }).response, (err) => err instanceof UpstreamTimeoutError);
    } finally {
      client.close();
      server.close();
    }
  });
});
