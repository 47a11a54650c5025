import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/observability/metrics.js';

/** The value of one sample line of a Prometheus text exposition, undefined when absent. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics: what the hot path records is what a scrape reports', () => {
  it('exposes request counts and latency histograms with cumulative buckets, sum and count per label set', async () => {
    const m = createMetrics();
    m.request('api', 'GET', 200, 0.0004);
    m.request('api', 'GET', 200, 0.003);
    m.request('api', 'POST', 502, 0.2);
    m.request('login', 'GET', 302, 40);
    const text = await m.registry.metrics();
    assert.equal(sample(text, 'bff_http_requests_total', 'route="api",method="GET",status="200"'), 2);
    assert.equal(sample(text, 'bff_http_requests_total', 'route="api",method="POST",status="502"'), 1);
    const bucket = (le: string, route = 'api') => sample(text, 'bff_http_request_duration_seconds_bucket', `le="${le}",route="${route}"`);
    assert.equal(bucket('0.0005'), 1);
    assert.equal(bucket('0.001'), 1);
    assert.equal(bucket('0.005'), 2);
    assert.equal(bucket('0.25'), 3);
    assert.equal(bucket('+Inf'), 3);
    assert.equal(bucket('30', 'login'), 0);
    assert.equal(bucket('+Inf', 'login'), 1);
    assert.equal(sample(text, 'bff_http_request_duration_seconds_count', 'route="api"'), 3);
    assert.ok(Math.abs(sample(text, 'bff_http_request_duration_seconds_sum', 'route="api"')! - 0.2034) < 1e-9);
    assert.match(text, /^# TYPE bff_http_request_duration_seconds histogram$/m);
  });

  it('keeps counting across scrapes: a second scrape reports the totals, not what came since the first', async () => {
    const m = createMetrics();
    m.dependency('upstream', 'GET', 0.002, true);
    await m.registry.metrics();
    m.dependency('upstream', 'GET', 0.002, true);
    m.dependency('upstream', 'GET', 0.002, false);
    m.request('api', 'GET', 200, 0.001);
    await m.registry.metrics();
    m.request('api', 'GET', 200, 0.001);
    const text = await m.registry.metrics();
    const labels = (outcome: string) => `dependency="upstream",operation="GET",outcome="${outcome}"`;
    assert.equal(sample(text, 'bff_dependency_duration_seconds_count', labels('ok')), 2);
    assert.equal(sample(text, 'bff_dependency_duration_seconds_bucket', `le="0.0025",${labels('ok')}`), 2);
    assert.equal(sample(text, 'bff_dependency_duration_seconds_count', labels('error')), 1);
    assert.equal(sample(text, 'bff_http_requests_total', 'route="api",method="GET",status="200"'), 2);
    assert.equal(sample(text, 'bff_http_request_duration_seconds_count', 'route="api"'), 2);
  });

  it('keeps label sets apart that share a route, a method or an operation', async () => {
    const m = createMetrics();
    m.request('api', 'GET', 200, 0.001);
    m.request('api', 'GET', 404, 0.001);
    m.request('api', 'GET', 404, 0.001);
    m.request('api', 'POST', 200, 0.001);
    m.request('session', 'GET', 404, 0.001);
    m.dependency('redis', 'get', 0.001, true);
    m.dependency('idp', 'get', 0.001, true);
    m.dependency('idp', 'get', 0.001, true);
    m.dependency('idp', 'token', 0.001, false);
    const text = await m.registry.metrics();
    const requests = (route: string, method: string, status: number) =>
      sample(text, 'bff_http_requests_total', `route="${route}",method="${method}",status="${status}"`);
    assert.deepEqual([requests('api', 'GET', 200), requests('api', 'GET', 404), requests('api', 'POST', 200), requests('session', 'GET', 404)], [1, 2, 1, 1]);
    const waits = (kind: string, operation: string, outcome: string) =>
      sample(text, 'bff_dependency_duration_seconds_count', `dependency="${kind}",operation="${operation}",outcome="${outcome}"`);
    assert.deepEqual([waits('redis', 'get', 'ok'), waits('idp', 'get', 'ok'), waits('idp', 'token', 'error')], [1, 2, 1]);
    // An outcome that never happened has no series.
    assert.equal(waits('idp', 'get', 'error'), undefined);
    assert.equal(waits('idp', 'token', 'ok'), undefined);
  });
});
