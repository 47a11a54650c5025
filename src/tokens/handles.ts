import { createHash, randomBytes } from 'node:crypto';
import type { ApiRoute } from '../config/api-routes.js';
import type { Config } from '../config/load.js';
import type { Sealer } from '../session/seal.js';
import type { Session } from '../session/session.js';
import type { KeyValueStore } from '../store/store.js';
import type { Step } from '../web/context.js';
import type { PhantomTokens } from './phantom.js';
import { userToken } from './user-token.js';

/** What a handle stands for: a session's token on one route, for one gateway client, until the token expires. */
interface HandleRecord {
  route: string;
  client: string;
  /** Epoch ms: the token's expiry when the handle was made; the handle never outlives it. */
  expiresAt: number;
  /** The session as it was (sealed, like the session itself): re-read or checked for its end at every introspection. */
  session: Session;
}

/** A gateway's introspection of a handle, answered from the session behind it. */
export type HandleAnswer =
  { active: false; reason: string } | { active: true; token: string; isJwt: boolean; expiresAt: number; sub: string; scope: string | undefined; route: string };

export interface HandleDeps {
  config: Config;
  store: KeyValueStore;
  sealer: Sealer;
  phantom: Pick<PhantomTokens, 'phantomFor'>;
  /** The session now, or undefined when it has ended (logout, back-channel logout, admin, expiry). */
  liveSession(snapshot: Session): Promise<Session | undefined>;
  now: () => number;
}

/** How long a handle lives when the IdP did not say when the token expires. */
const FALLBACK_MS = 300_000;
/**
 * How long this instance reuses a handle it made or read without asking the store again. Short,
 * so that a handle record the store lost (a Redis failover, an eviction) is replaced soon.
 */
const REMEMBER_MS = 30_000;
/** Most remembered handles (tokens × routes in use on this instance); the least recently used goes first. */
const REMEMBER_MAX = 10_000;
/** How often a request that lost the claim of a handle's index, and then found no winner, claims again. */
const CLAIMS = 2;
const hash = (value: string) => createHash('sha256').update(value).digest('base64url');
/** Keys are hashes: the store holds no usable handle or token. */
const recordKey = (handle: string) => `hd:${hash(handle)}`;
const indexKey = (route: string, token: string) => `hi:${hash(`${route}\n${token}`)}`;
const isJwt = (token: string) => token.split('.').length === 3;

/**
 * Phantom tokens, direction 2: a route with `handle` sends its upstream an opaque, random
 * 256-bit handle instead of the token; the gateway client named by the route resolves it at the
 * BFF's introspection endpoint. One handle per token and route (so gateways can cache it), kept
 * in the shared store under a hash, sealed; it lives no longer than the token, and a
 * session that ended makes it inactive at once (checked at every introspection).
 */
export function createHandles({ config, store, sealer, phantom, liveSession, now }: HandleDeps) {
  const skew = config.session.refreshSkewMs;

  const open = async <T>(key: string): Promise<T | undefined> => {
    const sealed = await store.get(key);
    const opened = sealed === undefined ? undefined : sealer.unseal(sealed, key);
    return opened ? (JSON.parse(opened.plaintext) as T) : undefined;
  };

  /**
   * Handles by index key, as this instance last made or read them. Reusing one costs no store
   * read and weakens no revocation: it is sent only for a request whose session was just found
   * live, and the introspection endpoint (resolve) reads the record and the session from the
   * store at every call. The key holds the token, so a refreshed token gets its own handle.
   */
  const remembered = new Map<string, { handle: string; until: number }>();
  const remember = (index: string, handle: string, tokenExpiresAt: number | undefined): string => {
    remembered.delete(index);
    remembered.set(index, { handle, until: Math.min(now() + REMEMBER_MS, tokenExpiresAt || Infinity) });
    if (remembered.size > REMEMBER_MAX) remembered.delete(remembered.keys().next().value!);
    return handle;
  };

  /** The handle of this session's token on `route`: the remembered one, the stored one, or a new one. */
  const handleFor = async (session: Session, route: ApiRoute, token: string): Promise<string> => {
    const index = indexKey(route.path, token);
    const known = remembered.get(index);
    if (known && known.until > now()) return known.handle;
    const tokenExpiresAt = userToken(session, route)?.expiresAt;
    const existing = await open<string>(index);
    // A token of unknown expiry: its handle lives FALLBACK_MS from when some request made it,
    // which this instance does not know, so it is not remembered past the stored record.
    if (existing) return tokenExpiresAt ? remember(index, existing, tokenExpiresAt) : existing;
    const expiresAt = tokenExpiresAt || now() + FALLBACK_MS;
    const ttl = Math.max(1_000, expiresAt - now());
    const handle = randomBytes(32).toString('base64url');
    // Only what the handle needs: no refresh token, ID token or DPoP key is copied.
    const { refreshToken: _r, idToken: _i, dpopKey: _k, ...tokens } = session.tokens;
    const record: HandleRecord = { route: route.path, client: route.handle!, expiresAt, session: { ...session, tokens } };
    await store.set(recordKey(handle), sealer.seal(JSON.stringify(record), recordKey(handle)), ttl);
    // Concurrent first requests agree on one handle: the first index written wins. The loser
    // drops its own record only once it has read the winner's handle: when the winner's index
    // vanished before that read (expired, evicted, a failover), it claims again, and if that
    // keeps failing it sends its own handle, whose record it kept, unshared and not remembered.
    const sealedHandle = sealer.seal(JSON.stringify(handle), index);
    for (let claim = 0; claim < CLAIMS; claim++) {
      if (await store.setIfAbsent(index, sealedHandle, ttl)) return remember(index, handle, expiresAt);
      const winner = await open<string>(index);
      // Our own claim, reported as taken (a write applied whose answer was lost): ours is the winner.
      if (winner === handle) return remember(index, handle, expiresAt);
      if (winner) {
        await store.delete(recordKey(handle));
        return remember(index, winner, expiresAt);
      }
    }
    return handle;
  };

  /** Replaces the token the route's policy chose by its handle. */
  const sendHandle =
    (route: ApiRoute): Step =>
    async (ctx, next) => {
      const auth = ctx.state.upstreamAuth;
      const session = ctx.state.session;
      if (auth && session) ctx.state.upstreamAuth = { token: await handleFor(session, route, auth.token), dpop: undefined };
      await next();
    };

  /** What `handle` stands for, as `client` may see it. */
  const resolve = async (handle: string, client: string): Promise<HandleAnswer> => {
    const record = await open<HandleRecord>(recordKey(handle));
    if (!record) return { active: false, reason: 'unknown or expired handle' };
    if (record.client !== client) return { active: false, reason: `handle of route ${record.route} asked by another gateway client` };
    const route = config.api.routes.find((r) => r.path === record.route && r.handle === client);
    if (!route) return { active: false, reason: `route ${record.route} no longer sends handles to this client` };
    if (record.expiresAt <= now()) return { active: false, reason: 'token expired' };
    const session = await liveSession(record.session);
    if (!session) return { active: false, reason: 'session ended' };
    // The session's current token: a refresh since the handle was made is followed.
    const current = userToken(session, route);
    if (!current || (current.expiresAt && current.expiresAt <= now())) return { active: false, reason: 'token expired' };
    const base = { sub: session.sub, scope: current.scope ?? session.tokens.scope, route: route.path };
    if (route.token === 'phantom') {
      const answer = await phantom.phantomFor(current.accessToken, route, current.expiresAt);
      if (!answer.active) return { active: false, reason: 'the IdP reports the token inactive' };
      return { active: true, token: answer.phantom.jwt, isJwt: true, expiresAt: answer.phantom.useUntil + skew, ...base };
    }
    return { active: true, token: current.accessToken, isJwt: isJwt(current.accessToken), expiresAt: current.expiresAt || record.expiresAt, ...base };
  };

  return { sendHandle, resolve };
}

export type Handles = ReturnType<typeof createHandles>;
