import type { Config } from '../config/load.js';
import type { Step } from '../web/context.js';
import { sessionInfo } from '../session/session-endpoint.js';
import type { Sessions } from '../session/session.js';

/** Last step of POST /refresh (after the forced ensureFreshToken): answers like /session. */
export function refreshEndpoint(config: Config, sessions: Sessions): Step {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = sessionInfo(config, sessions, ctx.state.session!);
  };
}
