import { AsyncLocalStorage } from 'node:async_hooks';
import type { Step } from '../web/context.js';

/** W3C Trace Context `traceparent`: version, trace id, parent id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const current = new AsyncLocalStorage<string>();

/**
 * Carries the incoming request's `traceparent` to the calls the BFF makes to the IdP on its
 * behalf (the upstream gets it with the forwarded headers). Only requests that bring a valid
 * traceparent pay for the async context.
 * @see https://www.w3.org/TR/trace-context/
 */
export const traceContext: Step = (ctx, next) => {
  const traceparent = ctx.get('traceparent');
  return traceparent && TRACEPARENT.test(traceparent) ? current.run(traceparent, next) : next();
};

/** The traceparent of the request being served, if it brought one. */
export const currentTraceparent = (): string | undefined => current.getStore();
