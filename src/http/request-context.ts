import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { EventLogger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { routeLabeller } from '../observability/route-label.js';
import { clientAddressResolver, type ProxyTrust } from '../web/client-address.js';
import type { Step } from '../web/context.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CLIENT_CLOSED = 499;

/**
 * First step of every request: the client's address (ctx.ip, as TRUST_PROXY allows; see
 * client-address.ts), a request id (the trusted proxy's X-Request-Id when the request came
 * through one and it is well-formed, otherwise a fresh one), echoed in the response; when the
 * pipeline is done, one access-log line and the request metrics. `trust` overrides TRUST_PROXY
 * (the admin listener believes no forwarding header).
 */
export function requestContext(config: Config, log: EventLogger, metrics?: Metrics, trust: ProxyTrust = config.server.trustProxy): Step {
  const resolveClient = clientAddressResolver(trust);
  const routeOf = routeLabeller(config);
  return (ctx, next) => {
    const client = resolveClient(ctx.req.socket.remoteAddress, ctx.get('x-forwarded-for') || undefined);
    // Every later ctx.ip (rate limits, the per-client gates, X-Forwarded-For upstream) reads this.
    ctx.request.ip = client.address;
    ctx.state.viaProxy = client.viaProxy;
    const incoming = client.viaProxy ? ctx.get('x-request-id') : '';
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    const started = performance.now();
    const completed = () => {
      // Echoed in the response: here, before Koa sends what the steps left, not up front. A
      // header set up front would make node:http copy every header of a proxied answer through
      // setHeader one by one; the /api/* forwarder writes its own (see forward.ts).
      if (!ctx.headerSent) ctx.set('X-Request-Id', requestId);
      const ms = performance.now() - started;
      // 499 (nginx's "client closed request") for a client that left before its answer: Koa would
      // report 404, as if nothing had handled the request.
      const status = ctx.state.clientClosed ? CLIENT_CLOSED : ctx.status;
      metrics?.request(routeOf(ctx.path), ctx.method, status, ms / 1000);
      if (log.enabled('request.completed')) {
        // The path only: query strings carry codes and states.
        log.event('request.completed', {
          request_id: requestId,
          method: ctx.method,
          path: ctx.path.length > 200 ? `${ctx.path.slice(0, 200)}…` : ctx.path,
          status,
          duration_ms: Math.round(ms * 10) / 10,
        });
      }
    };
    // Not an async function: the hot path pays for no frame of its own around the pipeline.
    return Promise.resolve(next()).then(completed, (err: unknown) => {
      completed();
      throw err;
    });
  };
}
