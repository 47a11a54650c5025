import type { ParameterizedContext, Next } from 'koa';
import type { UpstreamAuth } from '../proxy/forward.js';
import type { Session } from '../session/session.js';

/** What the middleware steps put on `ctx.state`. */
export interface BffState {
  requestId: string;
  /** Set by requireSession / loadSession. */
  session?: Session;
  /** Browser-facing routes answer errors with an HTML page unless the client prefers JSON. */
  page?: boolean;
  /** The client hung up before it got its answer (logged and counted as 499). */
  clientClosed?: boolean;
  /** The request came through a trusted proxy (TRUST_PROXY): its X-Forwarded-* headers apply. */
  viaProxy?: boolean;
  /** Set by an API route's token step: what the upstream receives in Authorization. */
  upstreamAuth?: UpstreamAuth;
}

export type BffContext = ParameterizedContext<BffState>;
export type Step = (ctx: BffContext, next: Next) => Promise<void> | void;
