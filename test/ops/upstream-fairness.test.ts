import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile } from '../support/routes-file.js';
import type { UserAgent } from '../support/user-agent.js';

/** Wakes whoever waits in {@link until}: called when the upstream or a held request changes. */
let waiting: Array<() => void> = [];
const changed = () => {
  const wake = waiting;
  waiting = [];
  for (const w of wake) w();
};

/** Resolves once `done()` holds, checking it whenever the upstream or a held request changes. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise<void>((resolve) => waiting.push(resolve));
}

/**
 * An upstream for holding connections: `/upload` answers once the request body has ended,
 * `/drip` sends its headers and then one byte every 200 ms for as long as it is read, anything
 * else answers 200 at once. `open` counts the requests it holds right now.
 */
interface SlowUpstream {
  url: string;
  open(): number;
  close(): Promise<void>;
}

async function startSlowUpstream(): Promise<SlowUpstream> {
  let open = 0;
  const server = http.createServer((req, res) => {
    open++;
    changed();
    res.once('close', () => {
      open--;
      changed();
    });
    const path = req.url ?? '';
    if (path.endsWith('/upload')) {
      req.resume();
      req.once('end', () => res.end('uploaded'));
      return;
    }
    if (path.endsWith('/drip')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const tick = setInterval(() => res.write('x'), 200);
      res.once('close', () => clearInterval(tick));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => open,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Requests the test keeps open (uploads that trickle, downloads never read to the end); all cut at the end. */
class Held {
  readonly requests: http.ClientRequest[] = [];
  refused = 0;
  readonly statuses: number[] = [];

  /** Starts a request that stays open; it counts as refused when answered with a 4xx/5xx before the test ends it. */
  start(url: URL, options: http.RequestOptions, trickle: boolean): void {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      this.statuses.push(res.statusCode ?? 0);
      if ((res.statusCode ?? 0) >= 400) this.refused++;
      res.resume();
      changed();
    });
    req.on('error', () => undefined);
    this.requests.push(req);
    if (!trickle) {
      req.end();
      return;
    }
    req.write('x');
    const tick = setInterval(() => (req.destroyed ? clearInterval(tick) : req.write('x')), 200);
    req.once('close', () => clearInterval(tick));
  }

  cut(): void {
    for (const req of this.requests) req.destroy();
  }
}

/** The 99th percentile of `ms` (nearest rank). */
const p99 = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.ceil(ms.length * 0.99) - 1]!;

describe('fair upstream pools: no client holds more than its share of a route, and waiting for one is timed', () => {
  let upstream: SlowUpstream;
  before(async () => {
    upstream = await startSlowUpstream();
  });
  after(async () => {
    await upstream?.close();
  });

  it("attack: one user holding the most trickling uploads a route allows cannot slow another user's calls there (p99 ≤ 1 s)", async () => {
    const h = await startHarness({ env: { API_UPSTREAM: upstream.url, API_TIMEOUT: '3' } });
    const held = new Held();
    try {
      const greedy = h.browser();
      const other = h.browser();
      await h.login(greedy);
      await h.login(other, '?login_hint=bob');
      // As many uploads as the route has connections (256 by default), each sending a byte every 200 ms.
      const url = new URL(`${h.url}/api/upload`);
      const headers = { cookie: greedy.cookieHeader(url.host), 'x-csrf': '1', 'transfer-encoding': 'chunked' };
      const attempts = 256;
      for (let i = 0; i < attempts; i++) held.start(url, { method: 'POST', headers }, true);
      await until(() => upstream.open() + held.refused >= attempts);

      const timings: number[] = [];
      for (let i = 0; i < 50; i++) {
        const started = performance.now();
        const res = await callWithin(h, other, '/fast', 5_000);
        timings.push(performance.now() - started);
        assert.equal(res, 200);
      }
      assert.ok(p99(timings) <= 1_000, `p99 ${Math.round(p99(timings))} ms`);
      // The greedy user got its share of the route (API_UPSTREAM_CONNECTIONS_PER_CLIENT), the rest 429.
      assert.equal(upstream.open(), 64);
      assert.deepEqual(new Set(held.statuses), new Set([429]));
    } finally {
      held.cut();
      await h.close();
    }
  });

  it("attack: clients filling a route's pool make the next call wait, and that wait ends in 504 upstream_timeout within API_TIMEOUT", async () => {
    const routes = routesFile([{ path: '/api/open', upstream: upstream.url, token: 'none' }]);
    const h = await startHarness({ env: { API_ROUTES: routes.path, API_TIMEOUT: '2', TRUST_PROXY: '1' } });
    const held = new Held();
    try {
      // Sixteen addresses, sixteen downloads each: the route's 256 connections, all busy and never idle.
      const url = new URL(`${h.url}/api/open/drip`);
      for (let i = 0; i < 256; i++) held.start(url, { headers: { 'x-csrf': '1', 'x-forwarded-for': `203.0.113.${i % 16}` } }, false);
      await until(() => upstream.open() + held.refused >= 256);
      assert.equal(upstream.open(), 256);
      const started = performance.now();
      const res = await fetch(`${h.url}/api/open/fast`, { headers: { 'x-csrf': '1', 'x-forwarded-for': '198.51.100.1' }, signal: AbortSignal.timeout(10_000) });
      const waited = performance.now() - started;
      assert.equal(res.status, 504);
      assert.equal(((await res.json()) as { error: string }).error, 'upstream_timeout');
      // API_TIMEOUT, and at most the one second of slack the issue allows for an answer.
      assert.ok(waited < 2_000 + 1_000, `answered after ${Math.round(waited)} ms`);
      assert.match(String(h.logs.named('proxy.upstream_timeout').at(-1)?.['reason']), /connection pool/);
    } finally {
      held.cut();
      await h.close();
      routes.remove();
    }
  });

  it('attack: calls stuck on one route cannot fill API_MAX_CONCURRENCY so that another route answers 503', async () => {
    const routes = routesFile([
      { path: '/api/stuck', upstream: upstream.url, token: 'none' },
      { path: '/api/other', upstream: upstream.url, token: 'none' },
    ]);
    const h = await startHarness({ env: { API_ROUTES: routes.path, API_MAX_CONCURRENCY: '8', API_TIMEOUT: '30', TRUST_PROXY: '1' } });
    const held = new Held();
    try {
      // Eight anonymous addresses, one hanging download each (a byte every 200 ms: never a timeout).
      const url = new URL(`${h.url}/api/stuck/drip`);
      for (let i = 0; i < 8; i++) held.start(url, { headers: { 'x-csrf': '1', 'x-forwarded-for': `203.0.113.${i}` } }, false);
      await until(() => upstream.open() + held.refused >= 8);
      const res = await fetch(`${h.url}/api/other/fast`, { headers: { 'x-csrf': '1', 'x-forwarded-for': '198.51.100.1' } });
      assert.equal(res.status, 200);
      // The stuck route got its half of the slots, and the rest of its calls were refused.
      assert.equal(upstream.open(), 4);
      assert.deepEqual(
        held.statuses.filter((s) => s !== 200),
        [503, 503, 503, 503],
      );
    } finally {
      held.cut();
      await h.close();
      routes.remove();
    }
  });

  it('attack: an upload whose body stops arriving is ended with 408 after API_BODY_IDLE_TIMEOUT, blamed on the client and not the upstream', async () => {
    const h = await startHarness({ env: { API_UPSTREAM: upstream.url, API_BODY_IDLE_TIMEOUT: '1', API_TIMEOUT: '30' } });
    try {
      const ua = h.browser();
      await h.login(ua);
      const url = new URL(`${h.url}/api/upload`);
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          url,
          { method: 'POST', agent: false, headers: { cookie: ua.cookieHeader(url.host), 'x-csrf': '1', 'content-length': '1000' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write('x'.repeat(100)); // and then nothing more: 900 bytes never come
        req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
      });
      assert.equal(status, 408);
      await h.logs.waitFor('proxy.body_timeout');
      const metrics = await h.bff.metrics.registry.metrics();
      assert.doesNotMatch(metrics, /dependency="upstream",[^}]*outcome="error"/);
      assert.equal(h.logs.named('proxy.upstream_unreachable').length + h.logs.named('proxy.upstream_timeout').length, 0);
    } finally {
      await h.close();
    }
  });
});

/** The status of GET /api`path` for `ua`, or 0 when there is no answer within `ms`. */
async function callWithin(h: Harness, ua: UserAgent, path: string, ms: number): Promise<number> {
  try {
    const res = await fetch(`${h.url}/api${path}`, {
      headers: { cookie: ua.cookieHeader(new URL(h.url).host), 'x-csrf': '1' },
      signal: AbortSignal.timeout(ms),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
