import { hash } from 'node:crypto';
import { BffError } from '../errors/bff-error.js';
import type { SessionDirectory } from './directory.js';
import type { Session } from './session.js';
import type { KeyValueStore } from '../store/store.js';

/**
 * Records of ended sessions, read on every request of a cookie session and at the end of every
 * login: a copied cookie of a session that logged out, or of a user or IdP session that a
 * back-channel logout or an administrator ended, is anonymous from then on. Each record lives
 * as long as a session it could refuse can (SESSION_MAX_AGE).
 *
 * Kept in Redis when one is configured (every instance sees it), otherwise in this process.
 * The reads go through the store's tracked cache where it has one (no round trip in steady
 * state; see store.ts `trackedGet`).
 */
export interface Revocations extends SessionDirectory {
  /**
   * True when the session was ended: by itself (logout), by its IdP session (whenever it began:
   * an IdP session that was logged out never comes back), or by its user after its login began.
   * `fresh` reads the store itself, not the tracked cache (the once-per-login check).
   */
  isRevoked(session: Session, options?: { fresh?: boolean }): Promise<boolean>;
  /** Records that this one session ended (logout of any kind, refresh rejected). */
  endSession(session: Session): Promise<void>;
}

const HANDLE = /^[A-Za-z0-9_-]{12}$/;
/** Users (and IdP sessions) whose record keys are remembered; see createRevocations. */
const DIGESTS = 4096;

/**
 * @param scope the deployment (issuer, client, public origin): a `sub` is unique only per issuer,
 *   so records of one deployment never end sessions of another that shares the store.
 */
export function createRevocations(store: KeyValueStore, scope: string, maxAgeMs: number, now: () => number, handleOf: (s: Session) => string): Revocations {
  // Two of these run on every cookie-session API call, for the same few users over and over:
  // each digest is remembered (at most DIGESTS of them; all forgotten at once when full).
  const digests = new Map<string, string>();
  const digest = (v: string) => {
    let d = digests.get(v);
    if (d === undefined) {
      d = hash('sha256', `${scope}\n${v}`, 'base64url');
      if (digests.size >= DIGESTS) digests.clear();
      digests.set(v, d);
    }
    return d;
  };
  const sessionKey = (handle: string) => `r:ses:${handle}`;
  const subKey = (sub: string) => `r:sub:${digest(sub)}`;
  const sidKey = (sid: string) => `r:sid:${digest(sid)}`;
  const subNoSidKey = (sub: string) => `r:subnosid:${digest(sub)}`;
  // Read on every request: from memory where the store keeps the revocation list coherent there.
  const read = (key: string) => (store.trackedGet ? store.trackedGet(key) : store.get(key));
  const unsupported = () =>
    new BffError('backchannel_unavailable', {
      description: 'Cookie sessions live in their browsers: they can be revoked by user, IdP session or handle, not listed.',
    });

  return {
    async isRevoked(s, { fresh = false } = {}) {
      const get = fresh ? (key: string) => store.get(key) : read;
      const [ended, bySub, bySid] = await Promise.all([
        get(sessionKey(handleOf(s))),
        get(subKey(s.sub)),
        get(s.idpSid ? sidKey(s.idpSid) : subNoSidKey(s.sub)),
      ]);
      if (ended !== undefined) return true;
      if (s.idpSid && bySid !== undefined) return true;
      return [bySub, s.idpSid ? undefined : bySid].some((record) => record !== undefined && endsLoginOf(record, s));
    },
    async endSession(s) {
      await store.set(sessionKey(handleOf(s)), '1', Math.max(1, s.createdAt + maxAgeMs - now()));
    },
    async endMatching({ sub, idpSid, issuedAt }) {
      // When it ended on our clock, and (a logout token) on the IdP's: see endsLoginOf.
      const at = issuedAt === undefined ? String(now()) : `${now()} ${issuedAt}`;
      if (idpSid) await store.set(sidKey(idpSid), at, maxAgeMs);
      // A sub alone ends all of the user's sessions; with a sid, only those of the user without one.
      if (sub) await store.set(idpSid ? subNoSidKey(sub) : subKey(sub), at, maxAgeMs);
      return 0; // how many browsers held such a session is unknowable
    },
    async list() {
      throw unsupported();
    },
    async endByHandle(handle) {
      if (!HANDLE.test(handle)) return false;
      await store.set(sessionKey(handle), '1', maxAgeMs);
      return true; // whether a browser still holds it is unknowable
    },
  };
}

/**
 * Whether a logout of the user (recorded as `<our time>[ <the logout token's iat, ms>]`) ends
 * this login: its code exchange began before the logout was recorded (a login racing it), or
 * the user last authenticated at the IdP (`auth_time`) before the IdP sent the logout — which
 * ends a login whose callback arrives after the logout although its sign-in came before.
 */
function endsLoginOf(record: string, s: Session): boolean {
  const [at, idpAt] = record.split(' ').map(Number);
  if (at !== undefined && (s.authAt ?? s.createdAt) <= at) return true;
  return s.authTime !== undefined && idpAt !== undefined && s.authTime <= idpAt;
}
