import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { EventLogger } from '../observability/logger.js';
import type { Step } from './context.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * First step of every request: a request id (the trusted proxy's X-Request-Id when
 * TRUST_PROXY is on and it is well-formed, otherwise a fresh one), echoed in the response and
 * in the one access-log line written when the response ends.
 */
export function requestContext(config: Config, log: EventLogger): Step {
  const trustIncoming = config.server.proxyHops > 0;
  return async (ctx, next) => {
    const incoming = trustIncoming ? ctx.get('x-request-id') : '';
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      if (log.enabled('request.completed')) {
        // The path only: query strings carry codes and states.
        log.event('request.completed', {
          request_id: requestId,
          method: ctx.method,
          path: ctx.path.length > 200 ? `${ctx.path.slice(0, 200)}…` : ctx.path,
          status: ctx.status,
          duration_ms: Math.round((performance.now() - started) * 10) / 10,
        });
      }
    }
  };
}
