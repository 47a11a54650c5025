import { BlockList, isIPv4 } from 'node:net';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Step } from '../http/context.js';

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * A test of an address against IP addresses and CIDR blocks (IPv4 and IPv6, as validated by the
 * configuration). An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack listener
 * reports) counts as its IPv4 address.
 */
export function addressMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    if (!address) return false;
    const plain = IPV4_MAPPED.exec(address)?.[1] ?? address;
    try {
      return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
    } catch {
      return false; // not an address BlockList understands (a zone id, say): not one of ours
    }
  };
}

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
      throw new BffError('untrusted_gateway', { event: 'gateway.untrusted_caller', detail: `caller ${address ?? 'unknown'} is not in FORWARD_AUTH_TRUSTED_IPS` });
    }
    await next();
  };
}
