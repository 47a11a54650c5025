import Router from '@koa/router';
import Koa from 'koa';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { BffState, Step } from '../web/context.js';
import { errorHandler } from '../http/error-handler.js';
import { requestContext } from '../http/request-context.js';
import type { EventLogger } from '../observability/logger.js';
import type { SessionDirectory } from '../session/directory.js';
import { bearerMatches } from './admin-auth.js';

export interface AdminDeps {
  config: Config;
  log: EventLogger;
  directory: SessionDirectory | undefined;
  /** Further admin routes (metrics). */
  extra?: Step;
  /** Rate limit of the admin API (per client address). */
  limit?: Step;
}

const SUB = /^[^\p{Cc}]{1,255}$/u;

/**
 * The admin listener (ADMIN_HOST:ADMIN_PORT, loopback by default; never the public port):
 * the session admin API, on only when ADMIN_TOKEN is set, behind that bearer token. Every
 * call is an audit event.
 */
export function createAdminApp({ config, log, directory, extra, limit }: AdminDeps): Koa<BffState> {
  const app = new Koa<BffState>();
  app.silent = true;
  // The admin listener believes no X-Forwarded-For: its limits count the connection's address.
  app.use(requestContext(config, log, undefined, { hops: 0 }));
  app.use(errorHandler(config, log));
  if (extra) app.use(extra);

  const token = config.adminToken;
  if (!token) return app; // API off: every /admin path is a 404

  const router = new Router<BffState>({ prefix: '/admin' });
  // Every call is audited, refusals included (the limiter's 429 and a wrong token's 401).
  const audit: Step = async (ctx, next) => {
    let outcome = 'ok';
    try {
      await next();
    } catch (err) {
      outcome = err instanceof BffError ? err.code : 'error';
      throw err;
    } finally {
      const sub = typeof ctx.query['sub'] === 'string' ? ctx.query['sub'] : undefined;
      log.event('admin.audit', {
        request_id: ctx.state.requestId,
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        reason: outcome,
        ...(sub ? { sub } : {}),
      });
    }
  };
  // After the limiter: a wrong token spends the address's budget like any call, so guessing
  // the token ends in 429 (RATE_LIMIT_PER_MINUTE), and every miss is its own warning.
  const authenticate: Step = async (ctx, next) => {
    if (!bearerMatches(ctx.get('authorization'), token)) {
      log.event('admin.auth_failed', { request_id: ctx.state.requestId, method: ctx.method, path: ctx.path, client: ctx.ip });
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new BffError('unauthenticated', { description: 'A valid admin bearer token is required.' });
    }
    if (!directory) throw new BffError('backchannel_unavailable', { description: 'Cookie sessions have no server-side directory to administer.' });
    await next();
  };
  const subOf = (q: unknown): string => {
    if (typeof q !== 'string' || !SUB.test(q)) throw new BffError('invalid_request', { description: 'Give the user as ?sub=…' });
    return q;
  };

  router.use(audit);
  if (limit) router.use(limit);
  router.use(authenticate);
  router.get('/sessions', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { sessions: await directory!.list(subOf(ctx.query['sub'])) };
  });
  router.delete('/sessions', async (ctx) => {
    ctx.body = { ended: await directory!.endMatching({ sub: subOf(ctx.query['sub']) }) };
  });
  router.delete('/sessions/:handle', async (ctx) => {
    if (!(await directory!.endByHandle(ctx.params['handle'] ?? ''))) throw new BffError('not_found', { description: 'No such session.' });
    ctx.status = 204;
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
