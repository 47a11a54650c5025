import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, type Listening } from '../../src/http/server.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

/** The value of one sample line of a Prometheus text exposition, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('metrics: Prometheus on the admin port, never on the public one', () => {
  let redis: TestRedis;
  let h: Harness;
  let admin: Listening;
  const scrape = async () => (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
  before(async () => {
    redis = await startTestRedis();
    h = await startHarness({ redis });
    admin = await listen(h.bff.admin, '127.0.0.1', 0);
  });
  after(async () => {
    await admin?.drain(0);
    await h?.close();
    await redis?.close();
  });

  it('counts requests, login outcomes, dependency latencies and rejections after a login and an API call', async () => {
    const before = await scrape();
    const ua = h.browser();
    await h.login(ua);
    assert.equal((await h.api(ua, '/m')).status, 200);
    assert.equal((await ua.get(`${h.url}/api/m`)).status, 403);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(delta('bff_http_requests_total', { route: 'api', method: 'GET', status: '200' }), 1);
    assert.equal(delta('bff_http_requests_total', { route: 'callback', method: 'GET', status: '302' }), 1);
    assert.equal(delta('bff_events_total', { event: 'login.started' }), 1);
    assert.equal(delta('bff_events_total', { event: 'callback.completed' }), 1);
    assert.equal(delta('bff_rejections_total', { code: 'csrf' }), 1);
    assert.equal(delta('bff_dependency_duration_seconds_count', { dependency: 'upstream', outcome: 'ok' }), 1);
    assert.ok(delta('bff_dependency_duration_seconds_count', { dependency: 'idp', operation: 'token', outcome: 'ok' }) >= 1);
    assert.ok(delta('bff_dependency_duration_seconds_count', { dependency: 'redis', operation: 'getex', outcome: 'ok' }) >= 1);
    assert.ok(sample(after, 'bff_http_request_duration_seconds_count', { route: 'api' }) >= 1);
    assert.match(after, /^bff_process_resident_memory_bytes \d+/m);
  });

  it('reports the session cache: hits of API calls that needed no Redis round trip, its size, and that it is serving', async () => {
    const ua = h.browser();
    await h.login(ua);
    const hits = async () => sample(await scrape(), 'bff_session_cache_lookups_total', { result: 'hit' });
    const before = await hits();
    for (let i = 0; i < 200 && (await hits()) === before; i++) assert.equal((await h.api(ua, `/cached${i}`)).status, 200);
    const after = await scrape();
    assert.ok(sample(after, 'bff_session_cache_lookups_total', { result: 'hit' }) > before, 'no API call was served from the cache');
    assert.ok(sample(after, 'bff_session_cache_lookups_total', { result: 'miss' }) >= 1);
    assert.ok(sample(after, 'bff_session_cache_entries') >= 1);
    assert.equal(sample(after, 'bff_session_cache_serving'), 1);
  });

  it('counts a request refused by the HTTP parser for oversized headers (431)', async () => {
    const before = sample(await scrape(), 'bff_rejections_total', { code: 'http_431' });
    const url = new URL(h.url);
    const status = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(`GET /session HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data.split('\r\n')[0] ?? ''));
      socket.on('error', reject);
    });
    assert.match(status, /^HTTP\/1\.1 431/);
    assert.equal(sample(await scrape(), 'bff_rejections_total', { code: 'http_431' }), before + 1);
  });

  it('is not served on the public port', async () => {
    assert.equal((await fetch(`${h.url}/metrics`)).status, 404);
  });
});
