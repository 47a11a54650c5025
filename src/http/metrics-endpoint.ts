import type { Step } from '../web/context.js';
import type { Metrics } from '../observability/metrics.js';

/** GET /metrics on the admin listener: the Prometheus text exposition of our registry. */
export function metricsEndpoint(metrics: Metrics): Step {
  return async (ctx, next) => {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET') return next();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}
