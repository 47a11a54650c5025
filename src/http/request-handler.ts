import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import compose from 'koa-compose';

/**
 * Koa's request handler (`app.callback()`) without the per-request response watch where no one
 * needs it. Koa attaches on-finished (ee-first: listeners on the response and its socket) to
 * every response, only to report a socket error to `ctx.onerror`. A response the proxy writes
 * itself (`ctx.respond = false`: an /api/* answer, the hot path) watches its own socket (see
 * forward.ts and stream-response.ts) and has nothing left for Koa to send, so it skips that
 * watch; every other response is sent by Koa exactly as `app.callback()` would (its respond and
 * its watch included).
 */
export function requestHandler<S>(app: Koa<S>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  // Koa's asyncLocalStorage option (app.currentContext) is carried by app.callback() only.
  if ((app as { ctxStorage?: unknown }).ctxStorage) throw new Error('requestHandler does not carry Koa asyncLocalStorage: use app.callback()');
  // What app.callback() sets up: without a listener, ctx.onerror's 'error' event would throw.
  if (!app.listenerCount('error')) app.on('error', app.onerror.bind(app));
  const run = compose(app.middleware);
  return (req, res) => {
    const ctx = app.createContext(req, res);
    res.statusCode = 404;
    return run(ctx).then(
      () => (ctx.respond === false ? undefined : respond(app, ctx)),
      (err: unknown) => ctx.onerror(err as Error),
    );
  };
}

/**
 * Koa's own response step, reached through handleRequest with a pipeline that has already run:
 * it only restores the status handleRequest resets (its 404 default), so Koa sends the body,
 * the headers and the errors as it always does.
 */
function respond<S>(app: Koa<S>, ctx: Koa.ParameterizedContext<S>): Promise<void> {
  const status = ctx.res.statusCode;
  const restore = () => {
    ctx.res.statusCode = status;
    return Promise.resolve();
  };
  return (app as unknown as { handleRequest(ctx: unknown, run: () => Promise<void>): Promise<void> }).handleRequest(ctx, restore);
}
