import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * An upstream serving an endless download as fast as it is read, that gives up on a
 * connection whose writes do not drain for `giveUpMs` (as real servers' send timeouts do).
 */
async function startDownloadUpstream(giveUpMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (res.destroyed) return;
      const giveUp = setTimeout(() => res.destroy(), giveUpMs);
      res.once('drain', () => {
        clearTimeout(giveUp);
        pump();
      });
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts a download through the BFF, reads its first bytes, then stops reading (the socket stays open). */
async function pausedDownload(h: Harness): Promise<http.ClientRequest> {
  const ua = h.browser();
  await h.login(ua);
  const url = new URL(`${h.url}/api/big`);
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { cookie: ua.cookieHeader(url.host), 'x-csrf': '1' } }, (res) => {
      res.once('data', () => {
        res.pause();
        resolve(req);
      });
    });
    req.on('error', reject);
  });
}

/** The first of the slow-reader or upstream-failure events, once one is logged. */
async function verdict(h: Harness): Promise<void> {
  await Promise.race([h.logs.waitFor('proxy.client_slow_reader'), h.logs.waitFor('proxy.upstream_unreachable')]);
}

async function assertBlamedOnTheClient(h: Harness, reason: RegExp): Promise<void> {
  assert.equal(h.logs.named('proxy.upstream_unreachable').length, 0, 'logged as an upstream failure');
  const [event] = h.logs.named('proxy.client_slow_reader');
  assert.equal(event?.['level'], 'warn');
  assert.match(String(event?.['reason']), reason);
  const metrics = await h.bff.metrics.registry.metrics();
  assert.doesNotMatch(metrics, /bff_events_total\{event="proxy\.upstream_unreachable"\}/);
  assert.doesNotMatch(metrics, /dependency="upstream",[^}]*outcome="error"/);
}

describe("a client that stops reading is its own doing, not the upstream's", () => {
  it('attack: a paused large download is cut after API_WRITE_IDLE_TIMEOUT and logged as a slow reader, not an upstream failure', async () => {
    const upstream = await startDownloadUpstream(10_000);
    const h = await startHarness({ env: { API_UPSTREAM: upstream.url, API_WRITE_IDLE_TIMEOUT: '1' } });
    const download = await pausedDownload(h);
    try {
      await verdict(h);
      await assertBlamedOnTheClient(h, /read nothing for 1000 ms/);
    } finally {
      download.destroy();
      await h.close();
      await upstream.close();
    }
  });
});

/** An upstream answering every call at once with a small body that comes whole with its headers. */
async function startSmallAnswerUpstream(bytes: number): Promise<{ url: string; close(): Promise<void> }> {
  const body = Buffer.alloc(bytes, 'y');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a client that stops reading answers that came whole', () => {
  it('attack: pipelined calls never read hold their slots only for API_WRITE_IDLE_TIMEOUT, not forever', async () => {
    // Each answer (60 KB) reaches the BFF in one piece and takes the res.end fast path; a client
    // that pipelines many calls and reads nothing fills the socket buffers, so later answers
    // cannot be written. Each still holds its slots (API_MAX_CONCURRENCY, the route's) until it is cut.
    const upstream = await startSmallAnswerUpstream(60 * 1024);
    const h = await startHarness({ env: { API_UPSTREAM: upstream.url, API_WRITE_IDLE_TIMEOUT: '1', API_UPSTREAM_CONNECTIONS_PER_CLIENT: '256' } });
    const ua = h.browser();
    await h.login(ua);
    const url = new URL(`${h.url}/api/small`);
    const socket = net.connect(Number(url.port), url.hostname);
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.pause(); // never reads
      const request = `GET /api/small HTTP/1.1\r\nhost: ${url.host}\r\ncookie: ${ua.cookieHeader(url.host)}\r\nx-csrf: 1\r\n\r\n`;
      socket.write(request.repeat(256)); // 15 MB of answers, more than the sockets' buffers hold
      let deadline: NodeJS.Timeout | undefined;
      const cut = await Promise.race([
        h.logs.waitFor('proxy.client_slow_reader').then(() => true),
        new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), 8_000))),
      ]);
      clearTimeout(deadline);
      assert.ok(cut, 'a client reading nothing kept its unwritten answers (and their slots) past API_WRITE_IDLE_TIMEOUT');
      assert.equal(h.logs.named('proxy.upstream_unreachable').length, 0, 'logged as an upstream failure');
    } finally {
      socket.destroy();
      await h.close();
      await upstream.close();
    }
  });
});
