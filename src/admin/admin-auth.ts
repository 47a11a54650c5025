import { sameSecret } from '../web/constant-time.js';

/**
 * Checks an `Authorization: Bearer …` header against the admin token in constant time: both
 * sides are hashed first, so neither the token's length nor its prefix leaks through timing.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? '');
  return sameSecret(m?.[1] ?? '', token) && m !== null;
}
