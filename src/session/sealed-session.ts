import type { TokenSet } from './session.js';

/** The sealed form of a session, shared by the server stores and cookie sessions. */
export interface SealedSession {
  /** Format version of this object. */
  f: 1;
  sid: string;
  sub: string;
  claims: Record<string, unknown>;
  tokens: TokenSet;
  /** Epoch ms of the login. */
  createdAt: number;
  /** Epoch ms of the last request that re-issued it (cookie sessions' idle timeout); 0 for server stores. */
  seenAt: number;
  idpSid?: string;
  ua?: string;
  /** Epoch ms at which the login's code exchange began (Session.authAt). */
  at?: number;
  /** Epoch ms of the authentication at the IdP (Session.authTime). */
  au?: number;
}

/** The sealed session in `plaintext`, or undefined when it is not one (wrong shape or version). */
export function parseSealedSession(plaintext: string): SealedSession | undefined {
  try {
    const v = JSON.parse(plaintext) as Partial<SealedSession>;
    const ok =
      v.f === 1 &&
      typeof v.sid === 'string' &&
      typeof v.sub === 'string' &&
      typeof v.createdAt === 'number' &&
      typeof v.tokens?.accessToken === 'string' &&
      typeof v.claims === 'object' &&
      v.claims !== null;
    return ok ? { ...(v as SealedSession), seenAt: typeof v.seenAt === 'number' ? v.seenAt : 0 } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Freezes a parsed session (plain objects and arrays) before it is shared between the requests
 * of a session: code that changed tokens in place instead of replacing them would throw.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
