import { createHash } from 'node:crypto';
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
  /** True when the session was ended: by itself (logout), by user or by IdP session after its login began. */
  isRevoked(session: Session): Promise<boolean>;
  /** Records that this one session ended (logout of any kind, refresh rejected). */
  endSession(session: Session): Promise<void>;
}

const HANDLE = /^[A-Za-z0-9_-]{12}$/;

export function createRevocations(store: KeyValueStore, maxAgeMs: number, now: () => number, handleOf: (s: Session) => string): Revocations {
  const digest = (v: string) => createHash('sha256').update(v).digest('base64url');
  const sessionKey = (handle: string) => `r:ses:${handle}`;
  const subKey = (sub: string) => `r:sub:${digest(sub)}`;
  const sidKey = (sid: string) => `r:sid:${digest(sid)}`;
  const subNoSidKey = (sub: string) => `r:subnosid:${digest(sub)}`;
  // Read on every request: from memory where the store keeps the revocation list coherent there.
  const read = (key: string) => (store.trackedGet ? store.trackedGet(key) : store.get(key));
  const unsupported = () => new BffError('backchannel_unavailable', { description: 'Cookie sessions live in their browsers: they can be revoked by user, IdP session or handle, not listed.' });

  return {
    async isRevoked(s) {
      // A login whose code exchange began before a logout of its user or IdP session is ended
      // too: its ID token was issued before that logout (a login racing a back-channel logout).
      const since = s.authAt ?? s.createdAt;
      const [ended, bySub, bySid] = await Promise.all([
        read(sessionKey(handleOf(s))),
        read(subKey(s.sub)),
        read(s.idpSid ? sidKey(s.idpSid) : subNoSidKey(s.sub)),
      ]);
      return ended !== undefined || [bySub, bySid].some((at) => at !== undefined && Number(at) >= since);
    },
    async endSession(s) {
      await store.set(sessionKey(handleOf(s)), '1', Math.max(1, s.createdAt + maxAgeMs - now()));
    },
    async endMatching({ sub, idpSid }) {
      const at = String(now());
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
