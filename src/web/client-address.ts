import { isIPv4, isIPv6 } from 'node:net';
import { addressMatcher } from './address-match.js';

/**
 * Who may name the client in X-Forwarded-For: a number of proxy hops in front of the BFF
 * (0 = nobody), or the addresses and CIDR blocks of the trusted proxies themselves.
 */
export type ProxyTrust = { readonly hops: number } | { readonly proxies: readonly string[] };

/** The client of one request, and whether a trusted proxy's forwarding headers apply to it. */
export interface ClientAddress {
  readonly address: string;
  /** The connection comes from a trusted proxy: its X-Forwarded-* and X-Request-Id are believed. */
  readonly viaProxy: boolean;
}

const V4_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;
const V6_BRACKETED = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/;
const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
const MAX_ENTRY = 64;

/**
 * One X-Forwarded-For entry (or a socket address) as a normalised IP address, or undefined for
 * anything else. Ports are stripped (`203.0.113.7:5555`, `[2001:db8::1]:443`): a fresh source
 * port must not be a fresh rate-limit budget. IPv6 is written in its RFC 5952 form and an
 * IPv4-mapped address as its IPv4 address, so that one client has one spelling. Zone ids,
 * host names, `unknown`, obfuscated identifiers (RFC 7239 6.3) and numeric tricks are refused.
 */
export function parseAddress(raw: string): string | undefined {
  const entry = raw.trim();
  if (entry.length === 0 || entry.length > MAX_ENTRY) return undefined;
  const bracketed = V6_BRACKETED.exec(entry);
  const v4port = bracketed ? undefined : V4_PORT.exec(entry);
  const port = bracketed?.[2] ?? v4port?.[2];
  if (port !== undefined && Number(port) > 65535) return undefined;
  const address = bracketed?.[1] ?? v4port?.[1] ?? entry;
  if (isIPv4(address)) return bracketed ? undefined : address;
  if (!isIPv6(address) || address.includes('%')) return undefined;
  // The WHATWG URL parser writes IPv6 hosts in the canonical RFC 5952 form.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const mapped = MAPPED.exec(canonical);
  if (!mapped) return canonical;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * The client's address for a connection from `socketAddress` carrying `forwardedFor`.
 * With a hop count, the entry that many places from the right (what the nearest of the
 * trusted proxies was told). With a list, only a trusted peer's header is read, walked from
 * the right past every trusted proxy: the first other address is the client, and whatever
 * stands left of it (written by the client itself) is ignored. An entry that is not an IP
 * address where the client should be means the socket address.
 */
export function clientAddressResolver(trust: ProxyTrust): (socketAddress: string | undefined, forwardedFor: string | undefined) => ClientAddress {
  const peerOf = (socket: string | undefined) => (socket === undefined ? '' : (parseAddress(socket) ?? socket));
  if ('hops' in trust) {
    const hops = trust.hops;
    if (hops <= 0) return (socket) => ({ address: peerOf(socket), viaProxy: false });
    return (socket, forwardedFor) => {
      const peer = peerOf(socket);
      if (!forwardedFor) return { address: peer, viaProxy: true };
      const entries = forwardedFor.split(',');
      const entry = entries[Math.max(0, entries.length - hops)] ?? '';
      return { address: parseAddress(entry) ?? peer, viaProxy: true };
    };
  }
  const trusted = addressMatcher(trust.proxies);
  return (socket, forwardedFor) => {
    const peer = peerOf(socket);
    if (!trusted(peer)) return { address: peer, viaProxy: false };
    if (!forwardedFor) return { address: peer, viaProxy: true };
    const entries = forwardedFor.split(',');
    let address = peer;
    for (let i = entries.length - 1; i >= 0; i--) {
      const parsed = parseAddress(entries[i]!);
      if (parsed === undefined) return { address: peer, viaProxy: true };
      address = parsed;
      if (!trusted(parsed)) break;
    }
    return { address, viaProxy: true };
  };
}
