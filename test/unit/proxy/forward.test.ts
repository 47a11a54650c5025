import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { loadConfig } from '../../../src/config/load.js';
import { BffError } from '../../../src/errors/bff-error.js';
import { errorHandler } from '../../../src/http/error-handler.js';
import { requestContext } from '../../../src/http/request-context.js';
import { requestHandler } from '../../../src/http/request-handler.js';
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js';
import { ConcurrencyGate } from '../../../src/proxy/concurrency-gate.js';
import { createForwarder, type ForwarderDeps } from '../../../src/proxy/forward.js';
import { cookieNames } from '../../../src/session/cookie-names.js';
import type { BffState } from '../../../src/web/context.js';
import { randomSecret, VALID_ENV } from '../config/config-fixture.js';
import { captureLogs } from '../../support/log-capture.js';

/**
 * One API route's forwarder behind the request context and the error step, as app.ts composes
 * them, on a listener of its own, in front of `upstream`.
 */
async function forwarding(
  upstream: http.RequestListener,
  options: Pick<ForwarderDeps, 'beforeResponse'> = {},
): Promise<{ url: string; metrics: Metrics; close(): Promise<void> }> {
  const up = http.createServer(upstream);
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  const config = loadConfig({ ...VALID_ENV, API_UPSTREAM: `http://127.0.0.1:${(up.address() as AddressInfo).port}/v1` }, randomSecret);
  const { log } = captureLogs();
  const metrics = createMetrics();
  const forwarder = createForwarder(config.api.routes[0]!, {
    config,
    cookies: cookieNames(config),
    log,
    gate: new ConcurrencyGate(10, 10),
    routeGate: new ConcurrencyGate(10, 10),
    ...options,
  });
  const app = new Koa<BffState>();
  app.silent = true;
  app
    .use(requestContext(config, log, metrics))
    .use(errorHandler(config, log, metrics))
    .use(forwarder.step);
  const bff = http.createServer(requestHandler(app));
  await new Promise<void>((resolve) => bff.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(bff.address() as AddressInfo).port}`,
    metrics,
    async close() {
      await forwarder.close();
      for (const server of [bff, up]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

describe('API proxy: a failure just before the answer’s headers go out', () => {
  it('is answered as an error the client receives, not left without a response (the client does not hang)', async () => {
    const f = await forwarding((_req, res) => res.end('{"ok":true}'), {
      // What the refresher's carryNewest can do: a newer token set that no longer fits the cookie.
      beforeResponse: () => {
        throw new BffError('session_too_large', { detail: 'the newer token set does not fit' });
      },
    });
    try {
      const res = await fetch(`${f.url}/api/things`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 500);
      assert.equal(((await res.json()) as { error: string }).error, 'session_too_large');
    } finally {
      await f.close();
    }
  });
});

describe('API proxy: an upstream 404 passed through is not a BFF rejection', () => {
  it('bff_rejections_total{code="not_found"} ("refused before any work") does not count a 404 the upstream answered', async () => {
    const f = await forwarding((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end();
    });
    try {
      const res = await fetch(`${f.url}/api/things`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 404);
      await res.text();
      const counted = (await f.metrics.registry.getSingleMetric('bff_rejections_total')!.get()).values.filter((v) => v.labels['code'] === 'not_found');
      assert.deepEqual(
        counted.map((v) => v.value),
        [],
        'the upstream’s own 404 was counted as a request the BFF refused',
      );
    } finally {
      await f.close();
    }
  });
});
