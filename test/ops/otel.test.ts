import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { startTracing } from '../../src/observability/otel.js';
import { testClock } from '../support/clock.js';
import { idpFaults } from '../support/faults.js';
import { startHarness } from '../support/harness.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${INCOMING_PARENT}-01`;
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_CODE_ERROR = 2;

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: AnyValue }>;
  status?: { code?: number };
  resource: Record<string, unknown>;
}

/** An OTLP/HTTP collector stand-in: records every POST it gets and answers `status` (200 `{}`). */
async function startReceiver(status = 200) {
  const requests: Array<{ method: string; path: string; contentType: string | undefined; body: unknown }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw;
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', contentType: req.headers['content-type'], body });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    spans(): OtlpSpan[] {
      const out: OtlpSpan[] = [];
      for (const r of requests) {
        const body = r.body as {
          resourceSpans?: Array<{
            resource?: { attributes?: Array<{ key: string; value: AnyValue }> };
            scopeSpans?: Array<{ spans?: Array<Omit<OtlpSpan, 'resource'>> }>;
          }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          const resource = Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, valueOf(a.value)]));
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) out.push({ ...s, resource });
        }
      }
      return out;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue === undefined ? v.boolValue : Number(v.intValue));
const attr = (span: OtlpSpan, key: string) => {
  const a = span.attributes?.find((x) => x.key === key);
  return a && valueOf(a.value);
};

describe('OpenTelemetry export (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('exports a server span per request under the incoming traceparent, and child spans whose ids the upstream and the IdP receive', async () => {
    const receiver = await startReceiver();
    const clock = testClock();
    const faults = idpFaults();
    const tokenCalls: Array<string | undefined> = [];
    faults.set((url, init) => {
      if (url.endsWith('/token')) tokenCalls.push((init.headers as Record<string, string> | undefined)?.['traceparent']);
      return undefined;
    });
    let upstreamTraceparent: string | undefined;
    let requestId: string | null;
    try {
      const h = await startHarness({ now: clock.now, idpFetch: faults.fetch, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
      try {
        const ua = h.browser();
        await h.login(ua);
        clock.advance(300_001); // the access token has expired: the API call refreshes it at the IdP
        const res = await h.api(ua, '/traced', { headers: { traceparent: TRACEPARENT } });
        assert.equal(res.status, 200);
        requestId = res.headers.get('x-request-id');
        upstreamTraceparent = h.upstream.received.at(-1)!.headers['traceparent'] as string | undefined;
      } finally {
        await h.close(); // flushes the batch
      }

      assert.ok(receiver.requests.length > 0, 'the collector got the spans when the app closed');
      for (const r of receiver.requests) {
        assert.equal(r.method, 'POST');
        assert.equal(r.path, '/v1/traces');
        assert.match(r.contentType ?? '', /^application\/json/);
      }
      const spans = receiver.spans();
      const server = spans.find((s) => s.name === 'GET api' && s.traceId === TRACE_ID);
      assert.ok(server, `a server span for the api route in the incoming trace; got ${spans.map((s) => `${s.name}@${s.traceId}`).join(', ')}`);
      assert.equal(server.kind, SPAN_KIND_SERVER);
      assert.equal(server.parentSpanId, INCOMING_PARENT, 'its parent is the incoming traceparent');
      assert.equal(attr(server, 'http.request.method'), 'GET');
      assert.equal(attr(server, 'http.route'), 'api');
      assert.equal(attr(server, 'http.response.status_code'), 200);
      assert.equal(attr(server, 'url.path'), '/api/traced');
      assert.equal(attr(server, 'bff.request_id'), requestId);
      assert.equal(server.resource['service.name'], 'oidc-bff');

      // The upstream got the traceparent of the BFF's upstream span, not the incoming one.
      const m = new RegExp(`^00-${TRACE_ID}-([0-9a-f]{16})-01$`).exec(upstreamTraceparent ?? '');
      assert.ok(m, `upstream traceparent ${upstreamTraceparent} continues the incoming trace`);
      assert.notEqual(m[1], INCOMING_PARENT);
      const upstreamSpan = spans.find((s) => s.spanId === m[1]);
      assert.ok(upstreamSpan, 'the span named in the upstream traceparent was exported');
      assert.equal(upstreamSpan.name, 'GET upstream');
      assert.equal(upstreamSpan.kind, SPAN_KIND_CLIENT);
      assert.equal(upstreamSpan.traceId, TRACE_ID);
      assert.equal(upstreamSpan.parentSpanId, server.spanId);
      assert.equal(attr(upstreamSpan, 'http.response.status_code'), 200);

      // Likewise the refresh at the IdP's token endpoint made for that request.
      assert.equal(tokenCalls.length, 2, 'one code exchange at login, one refresh');
      const idp = new RegExp(`^00-${TRACE_ID}-([0-9a-f]{16})-01$`).exec(tokenCalls[1] ?? '');
      assert.ok(idp, `IdP traceparent ${tokenCalls[1]} continues the incoming trace`);
      const idpSpan = spans.find((s) => s.spanId === idp[1]);
      assert.ok(idpSpan, 'the span named in the IdP traceparent was exported');
      assert.equal(idpSpan.name, 'POST idp token');
      assert.equal(idpSpan.parentSpanId, server.spanId);

      // Session store commands of the request are children too.
      const storeSpans = spans.filter((s) => s.parentSpanId === server.spanId && attr(s, 'db.operation.name') !== undefined);
      assert.ok(
        storeSpans.some((s) => attr(s, 'db.operation.name') === 'getex'),
        `store spans: ${storeSpans.map((s) => s.name).join(', ')}`,
      );

      // Requests without a traceparent get root server spans of their own.
      const callback = spans.find((s) => s.name === 'GET callback');
      assert.ok(callback, 'the login callback has a server span');
      assert.ok(!callback.parentSpanId, 'a root span');
      assert.notEqual(callback.traceId, TRACE_ID);
      const exchange = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(tokenCalls[0] ?? '');
      assert.ok(exchange, "the code exchange carries the traceparent of its own span, in the callback's trace");
      assert.equal(exchange[1], callback.traceId);
      assert.equal(spans.find((s) => s.spanId === exchange[2])?.parentSpanId, callback.spanId);
      assert.ok(
        spans.every((s) => s.status?.code !== STATUS_CODE_ERROR),
        'nothing failed',
      );
    } finally {
      await receiver.close();
    }
  });

  it('logs a failed export (tracing.export_failed), and the requests do not notice', async () => {
    const receiver = await startReceiver(400); // a non-retryable refusal
    try {
      const h = await startHarness({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/` } });
      try {
        const ua = h.browser();
        await h.login(ua);
        assert.equal((await h.api(ua, '/traced')).status, 200);
      } finally {
        await h.close();
      }
      assert.ok(receiver.requests.length > 0);
      assert.equal(receiver.requests[0]!.path, '/v1/traces', 'a trailing slash in the endpoint is not doubled');
      const failed = h.logs.named('tracing.export_failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!['url'], `${receiver.url}/v1/traces`);
    } finally {
      await receiver.close();
    }
  });

  it('is off without the variable: startTracing returns undefined, nothing is exported, the traceparent passes through unchanged', async () => {
    const receiver = await startReceiver();
    // The variable in the process environment too: no OpenTelemetry code may read it behind the configuration's back.
    const saved = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = receiver.url;
    try {
      const h = await startHarness();
      try {
        assert.equal(h.config.otel.endpoint, undefined);
        assert.equal(await startTracing(h.config, h.logs.log), undefined);
        const ua = h.browser();
        await h.login(ua);
        const res = await h.api(ua, '/traced', { headers: { traceparent: TRACEPARENT } });
        assert.equal(res.status, 200);
        assert.equal(h.upstream.received.at(-1)!.headers['traceparent'], TRACEPARENT);
      } finally {
        await h.close();
      }
      assert.equal(receiver.requests.length, 0, 'no OTLP request arrived');
    } finally {
      if (saved === undefined) delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
      else process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = saved;
      await receiver.close();
    }
  });

  it('reads OTEL_EXPORTER_OTLP_ENDPOINT (an http(s) base URL) and OTEL_SERVICE_NAME from the configuration', () => {
    const env = {
      PUBLIC_URL: 'http://127.0.0.1:3000',
      OIDC_ISSUER: 'http://127.0.0.1:9',
      OIDC_CLIENT_ID: 'c',
      OIDC_CLIENT_SECRET: 's',
      OIDC_ALLOW_HTTP: 'true',
      API_UPSTREAM: 'http://127.0.0.1:9',
    };
    const secret = () => 'x'.repeat(43);
    assert.deepEqual(loadConfig(env, secret).otel, { endpoint: undefined, serviceName: 'oidc-bff' });
    const on = loadConfig({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example:4318/otlp', OTEL_SERVICE_NAME: 'bff-eu' }, secret).otel;
    assert.equal(on.endpoint?.href, 'https://collector.example:4318/otlp');
    assert.equal(on.serviceName, 'bff-eu');
    for (const bad of ['collector:4318', 'grpc://collector:4317', 'http://collector:4318/?x=1']) {
      assert.throws(
        () => loadConfig({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: bad }, secret),
        (e: unknown) => e instanceof ConfigError && /OTEL_EXPORTER_OTLP_ENDPOINT/.test(e.message),
        bad,
      );
    }
  });

  it('does not even load the OpenTelemetry SDK when off (a fresh process)', async () => {
    // The OpenTelemetry packages are CommonJS: whatever is loaded, also through import(), is in require.cache.
    const script = `
      import { createRequire } from 'node:module';
      const { loadConfig } = await import(${JSON.stringify(new URL('../../src/config/load.ts', import.meta.url).href)});
      const { startTracing } = await import(${JSON.stringify(new URL('../../src/observability/otel.ts', import.meta.url).href)});
      await import(${JSON.stringify(new URL('../../src/app.ts', import.meta.url).href)});
      const env = { PUBLIC_URL: 'http://127.0.0.1:3000', OIDC_ISSUER: 'http://127.0.0.1:9', OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's', OIDC_ALLOW_HTTP: 'true', API_UPSTREAM: 'http://127.0.0.1:9' };
      const log = { event() {}, enabled: () => false, flush() {} };
      const sdk = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('@opentelemetry/sdk-trace'));
      const off = await startTracing(loadConfig(env, () => 'x'.repeat(43)), log);
      const offLoaded = sdk();
      const on = await startTracing(loadConfig({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, () => 'x'.repeat(43)), log);
      const onLoaded = sdk();
      await on?.shutdown();
      console.log(JSON.stringify({ off: off === undefined, offLoaded, on: on !== undefined, onLoaded }));
    `;
    const env = { ...process.env };
    delete env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      env,
    });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), { off: true, offLoaded: false, on: true, onLoaded: true });
  });
});
