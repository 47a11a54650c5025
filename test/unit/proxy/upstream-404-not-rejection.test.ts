import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { loadConfig } from '../../../src/config/load.js';
import { errorHandler } from '../../../src/http/error-handler.js';
import { requestContext } from '../../../src/http/request-context.js';
import { requestHandler } from '../../../src/http/request-handler.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { ConcurrencyGate } from '../../../src/proxy/concurrency-gate.js';
import { createForwarder } from '../../../src/proxy/forward.js';
import { cookieNames } from '../../../src/session/cookie-names.js';
import type { BffState } from '../../../src/web/context.js';
import { randomSecret, VALID_ENV } from '../config/config-fixture.js';
import { captureLogs } from '../../support/log-capture.js';

describe('API proxy: an upstream 404 passed through is not a BFF rejection', () => {
  let upstream: http.Server | undefined;
  let bff: http.Server | undefined;
  afterEach(async () => {
    for (const server of [bff, upstream]) {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    }
  });

  it('bff_rejections_total{code="not_found"} ("refused before any work") does not count a 404 the upstream answered', async () => {
    upstream = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end();
    });
    await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
    const config = loadConfig({ ...VALID_ENV, API_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` }, randomSecret);
    const { log } = captureLogs();
    const metrics = createMetrics();
    const forwarder = createForwarder(config.api.routes[0]!, {
      config,
      cookies: cookieNames(config),
      log,
      gate: new ConcurrencyGate(10, 10),
      routeGate: new ConcurrencyGate(10, 10),
    });
    const app = new Koa<BffState>();
    app.silent = true;
    app
      .use(requestContext(config, log, metrics))
      .use(errorHandler(config, log, metrics))
      .use(forwarder.step);
    bff = http.createServer(requestHandler(app));
    await new Promise<void>((resolve) => bff!.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(bff.address() as AddressInfo).port}/api/things`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 404);
      await res.text();
      const counted = (await metrics.registry.getSingleMetric('bff_rejections_total')!.get()).values.filter((v) => v.labels['code'] === 'not_found');
      assert.deepEqual(
        counted.map((v) => v.value),
        [],
        'the upstream’s own 404 was counted as a request the BFF refused',
      );
    } finally {
      await forwarder.close();
    }
  });
});
