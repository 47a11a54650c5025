import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { ERROR_CODES, type ErrorCode } from '../errors/codes.js';
import type { EventLogger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { errorFields } from '../observability/logger.js';
import { StoreUnavailableError } from '../store/store.js';
import type { BffContext, Step } from '../web/context.js';
import { createViews } from './views.js';

const TITLES: Partial<Record<ErrorCode, string>> = {
  invalid_state: 'This sign-in attempt cannot be completed',
  login_failed: 'Sign-in failed',
  id_token_invalid: 'Sign-in failed',
  insufficient_user_authentication: 'A stronger sign-in is required',
  logout_refused: 'Sign-out refused',
  access_denied: 'Sign-in was cancelled',
  idp_error: 'The identity provider had a problem',
  idp_unreachable: 'The identity provider is unreachable',
  idp_not_ready: 'Starting up',
  session_store_unavailable: 'Temporarily unavailable',
  unauthenticated: 'You are signed out',
};

/**
 * The only place where an error becomes a response. Handlers and steps just throw.
 * Browser-facing routes get an HTML page (status, plain reason, request id, "sign in again"),
 * everything else JSON `{error, error_description}`. Server-side faults never show their
 * detail; each error is logged here once, unless its dependency already reported the outage.
 */
export function errorHandler(config: Config, log: EventLogger, metrics?: Metrics): Step {
  const views = createViews();
  const loginUrl = config.publicOrigin + config.paths.login;
  const answer = (ctx: BffContext, err: unknown): void => {
    const e = toBffError(err);
    if (e.status < 500) metrics?.rejected(e.code);
    report(log, ctx, e, err);
    if (ctx.headerSent || !ctx.writable) return;
    ctx.status = e.status;
    ctx.set('Cache-Control', 'no-store');
    if (ctx.state.page && ctx.accepts('html', 'json') === 'html') {
      ctx.type = 'html';
      ctx.body = views.errorPage({
        status: e.status,
        code: e.code,
        title: TITLES[e.code] ?? 'Something went wrong',
        reason: e.expose ? e.description : ERROR_CODES[e.code].description,
        requestId: ctx.state.requestId,
        loginUrl,
      });
    } else {
      ctx.body = { error: e.code, error_description: e.expose ? e.description : ERROR_CODES[e.code].description };
    }
  };
  // Not an async function: the hot path pays for no frame of its own around the pipeline.
  return (ctx, next) =>
    Promise.resolve(next()).then(
      () => {
        // Nothing answered the request. Not a proxied answer (an upstream's own 404 went out as
        // it came) nor a client that left before its answer (logged as 499).
        if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false && !ctx.state.clientClosed) answer(ctx, new BffError('not_found'));
      },
      (err: unknown) => answer(ctx, err),
    );
}

/** Anything thrown becomes a BffError: ours as is, Koa's client errors as invalid_request, the rest as 500. */
function toBffError(err: unknown): BffError {
  if (err instanceof BffError) return err;
  if (err instanceof StoreUnavailableError) return new BffError('session_store_unavailable', { cause: err });
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new BffError(status === 404 ? 'not_found' : 'invalid_request', { cause: err, detail: (err as Error).message });
  }
  return new BffError('internal_error', { cause: err, detail: err instanceof Error ? err.message : String(err) });
}

function report(log: EventLogger, ctx: BffContext, e: BffError, original: unknown): void {
  const request_id = ctx.state.requestId;
  if (e.code === 'session_store_unavailable') return; // the store logs its outage once, not per request
  if (e.event) {
    log.event(e.event, { request_id, code: e.code, status: e.status, ...(e.detail ? { reason: e.detail } : {}), ...causeFields(e) });
    return;
  }
  if (e.status >= 500) {
    log.event('request.failed', {
      request_id,
      code: e.code,
      status: e.status,
      path: ctx.path,
      err: errorFields(e.cause ?? original, e.code === 'internal_error'),
    });
  } else if (e.code !== 'not_found') {
    log.event('request.rejected', { request_id, code: e.code, status: e.status, ...(e.detail ? { reason: e.detail } : {}) });
  }
}

function causeFields(e: BffError): { err?: ReturnType<typeof errorFields> } {
  return e.cause === undefined ? {} : { err: errorFields(e.cause, e.status >= 500 && e.code === 'internal_error') };
}
