import assert from 'node:assert/strict';
import http from 'node:http';
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
