import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { addressMatcher } from '../web/address-match.js';
import type { Step } from '../web/context.js';

/**
 * First step of the forward-auth endpoint: only the configured gateways may ask for a token,
 * judged by the address of the connection itself (an X-Forwarded-For says whatever its sender
 * wrote). Anyone else gets 403 `untrusted_gateway`, before any session is looked at.
 */
export function trustedGateway(config: Config): Step {
  const isTrusted = addressMatcher(config.forwardAuth.trustedIps);
  return async (ctx, next) => {
    const address = ctx.req.socket.remoteAddress;
    if (!isTrusted(address)) {
      throw new BffError('untrusted_gateway', {
        event: 'gateway.untrusted_caller',
        detail: `caller ${address ?? 'unknown'} is not in FORWARD_AUTH_TRUSTED_IPS`,
      });
    }
    await next();
  };
}
