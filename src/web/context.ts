import type { ParameterizedContext, Next } from 'koa';

/**
 * What the middleware steps put on `ctx.state`. The base layer declares its own slots; each
 * feature adds the slot it sets where it sets it (declaration merging: see require-session.ts,
 * forward.ts), so the base layer imports no feature.
 */
export interface BffState {
  requestId: string;
  /** Browser-facing routes answer errors with an HTML page unless the client prefers JSON. */
  page?: boolean;
  /** The client hung up before it got its answer (logged and counted as 499). */
  clientClosed?: boolean;
  /** The request came through a trusted proxy (TRUST_PROXY): its X-Forwarded-* headers apply. */
  viaProxy?: boolean;
}

export type BffContext = ParameterizedContext<BffState>;
export type Step = (ctx: BffContext, next: Next) => Promise<void> | void;
