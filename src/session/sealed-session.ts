import type { Session, TokenSet } from './session.js';

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

/** What a login gives a new session; the store adds its key, the sid and the time. */
export type NewSession = Pick<Session, 'sub' | 'claims' | 'tokens' | 'idpSid' | 'userAgent' | 'authAt' | 'authTime'>;

/** A session as it starts: the one place a new session's fields are chosen. */
export function newSession(key: string, sid: string, data: NewSession, createdAt: number): Session {
  return fromSealed(key, toSealed({ ...data, sid, createdAt }, 0));
}

/** The sealed form of `s` (the one mapping of Session to its stored fields, both ways). */
export function toSealed(s: Omit<Session, 'key'>, seenAt: number): SealedSession {
  return {
    f: 1,
    sid: s.sid,
    sub: s.sub,
    claims: { ...s.claims },
    tokens: s.tokens,
    createdAt: s.createdAt,
    seenAt,
    ...(s.idpSid ? { idpSid: s.idpSid } : {}),
    // Bounded: it comes from the browser and is kept for the admin API only.
    ...(s.userAgent ? { ua: s.userAgent.slice(0, 200) } : {}),
    ...(s.authAt ? { at: s.authAt } : {}),
    ...(s.authTime ? { au: s.authTime } : {}),
  };
}

/** The session a sealed value stands for, under `key`. */
export function fromSealed(key: string, stored: SealedSession): Session {
  return {
    key,
    sid: stored.sid,
    sub: stored.sub,
    claims: stored.claims,
    tokens: stored.tokens,
    createdAt: stored.createdAt,
    ...(stored.idpSid ? { idpSid: stored.idpSid } : {}),
    ...(stored.ua ? { userAgent: stored.ua } : {}),
    ...(stored.at ? { authAt: stored.at } : {}),
    ...(stored.au ? { authTime: stored.au } : {}),
  };
}
