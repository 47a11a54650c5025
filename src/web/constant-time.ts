import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (v: string | Buffer) => createHash('sha256').update(v).digest();

/**
 * Compares a presented secret (a token, a state's binding, a session's sid) with the expected one
 * in constant time: both sides are hashed first, so neither the length nor a common prefix
 * leaks through timing.
 */
export function sameSecret(presented: string | Buffer, expected: string | Buffer): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}
