import type { Config } from '../config/load.js';
import { cookieIo } from '../web/cookie-io.js';
import type { Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import type { Transactions } from './transactions.js';

export interface LogoutCallbackDeps {
  config: Config;
  transactions: Transactions;
  log: EventLogger;
}

const MAX_STATE_LENGTH = 512;

/**
 * GET LOGOUT_CALLBACK_PATH?state=…: the IdP returns the browser here after RP-initiated
 * logout (the post_logout_redirect_uri). The state must be a logout transaction this browser
 * started, unused and unexpired; then the browser goes to the target /logout validated and
 * remembered. Anything else goes to POST_LOGOUT_REDIRECT_URI: the session is over either way,
 * so a bad state costs only the destination, and never makes this an open redirect. The
 * session cookie is never touched here (the request arrives cross-site from the IdP).
 */
export function logoutCallback({ config, transactions, log }: LogoutCallbackDeps): Step {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const state = ctx.query['state'];
    const wellFormed = typeof state === 'string' && state.length > 0 && state.length <= MAX_STATE_LENGTH;
    const tx = wellFormed ? await transactions.takeLogout(state, cookieIo(ctx)) : undefined;
    if (!tx) {
      log.event('logout.state_invalid', {
        request_id: ctx.state.requestId,
        reason: wellFormed ? 'unknown, used, expired or foreign state' : 'missing or malformed state',
      });
      ctx.redirect(config.oidc.postLogoutRedirectUri);
      return;
    }
    log.event('logout.returned', { request_id: ctx.state.requestId });
    ctx.redirect(tx.returnTo);
  };
}
