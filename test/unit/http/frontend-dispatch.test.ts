import assert from 'node:assert/strict';
import type { FrontendIdentity } from '../../../src/config/load.js';
import { frontendDispatch, type FrontendUnit } from '../../../src/http/frontend-dispatch.js';
import type { BffContext, Step } from '../../../src/web/context.js';

/** A unit whose step records that it was chosen. */
function unit(id: string, host: string, seen: string[]): FrontendUnit {
  const frontend = { id, host, pathPrefix: '', providerId: 'p', providers: ['p'] } as unknown as FrontendIdentity;
  const step: Step = () => void seen.push(id);
  return { frontend, step };
}

/** What the dispatcher reads of a Koa context: path, Host header, and ctx.host as Koa derives it. */
function ctxFor(host: string, opts: { proxy?: boolean; forwardedHost?: string } = {}): BffContext {
  const req = { headers: { host, ...(opts.forwardedHost ? { 'x-forwarded-host': opts.forwardedHost } : {}) }, httpVersionMajor: 1 };
  return {
    path: '/api/things',
    req,
    app: { proxy: opts.proxy === true },
    get host() {
      return opts.proxy && opts.forwardedHost ? opts.forwardedHost : host;
    },
  } as unknown as BffContext;
}

describe('frontend dispatch: the Host header picks the frontend on every request', () => {
  it('alternating Host headers each reach their own frontend (the remembered host never sticks)', async () => {
    const seen: string[] = [];
    const unmatched: Step = () => void seen.push('none');
    const dispatch = frontendDispatch([unit('a', 'a.example', seen), unit('b', 'b.example', seen)], unmatched, { healthz: unmatched, readyz: unmatched });
    for (const host of ['a.example', 'b.example', 'a.example', 'B.EXAMPLE', 'c.example', 'b.example']) await dispatch(ctxFor(host), async () => undefined);
    assert.deepEqual(seen, ['a', 'b', 'a', 'b', 'none', 'b']);
  });

  it('with proxy trust on, ctx.host (X-Forwarded-Host) decides each time, not the remembered Host header', async () => {
    const seen: string[] = [];
    const unmatched: Step = () => void seen.push('none');
    const dispatch = frontendDispatch([unit('a', 'a.example', seen), unit('b', 'b.example', seen)], unmatched, { healthz: unmatched, readyz: unmatched });
    await dispatch(ctxFor('a.example'), async () => undefined);
    await dispatch(ctxFor('a.example', { proxy: true, forwardedHost: 'b.example' }), async () => undefined);
    assert.deepEqual(seen, ['a', 'b']);
  });
});
