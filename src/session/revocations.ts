import { createHash } from 'node:crypto';
import { BffError } from '../errors/bff-error.js';
import type { SessionDirectory } from './directory.js';
import type { Session } from './session.js';
import type { SessionStore } from './store.js';

/**
 * For cookie sessions with Redis: a small revocation list. A logout token for an IdP session
 * (`sid`) or a user (`sub`) records the moment; a sealed cookie session of that sid or sub
 * created before it is refused from then on. Each record lives as long as a session can
 * (SESSION_MAX_AGE), after which no session it could refuse is left.
 */
export interface Revocations extends SessionDirectory {
  isRevoked(session: Session): Promise<boolean>;
}

export function createRevocations(store: SessionStore, maxAgeMs: number, now: () => number): Revocations {
  const digest = (v: string) => createHash('sha256').update(v).digest('base64url');
  const subKey = (sub: string) => `r:sub:${digest(sub)}`;
  const sidKey = (sid: string) => `r:sid:${digest(sid)}`;
  const subNoSidKey = (sub: string) => `r:subnosid:${digest(sub)}`;
  const unsupported = () => new BffError('backchannel_unavailable', { description: 'Cookie sessions live in their browsers: they can be revoked by user or IdP session, not listed.' });

  // Read on every request: from memory where the store keeps the revocation list coherent there.
  const read = store.trackedGet ?? store.get;
  return {
    async isRevoked(s) {
      const [bySub, bySid] = await Promise.all([
        read(subKey(s.sub)),
        s.idpSid ? read(sidKey(s.idpSid)) : read(subNoSidKey(s.sub)),
      ]);
      return [bySub, bySid].some((at) => at !== undefined && Number(at) >= s.createdAt);
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
    async endByHandle() {
      throw unsupported();
    },
  };
}
