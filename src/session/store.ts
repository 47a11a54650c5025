/**
 * The storage port under sessions and login transactions: a key → sealed string map with
 * expiry. Everything above it (sealing, ids, cookies, timeouts) is done once, in
 * session/sessions.ts and oidc/transactions.ts, so every store behaves the same.
 *
 * Implementations throw {@link StoreUnavailableError} when the backing service cannot be
 * reached; callers turn it into 503 `session_store_unavailable`, never into "anonymous".
 */
export interface SessionStore {
  readonly kind: 'redis' | 'memory';
  /** Reads a value and, if it exists, resets its time to live (sliding expiry) in one round trip. */
  getAndTouch(key: string, ttlMs: number): Promise<string | undefined>;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Overwrites a value only if the key still exists; false when it did not (it was deleted,
   * e.g. by a logout, or expired). Updates use it so that they never bring an ended session back.
   */
  replace(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Reads and deletes in one atomic step: a single-use record can be taken only once. */
  take(key: string): Promise<string | undefined>;
  delete(key: string): Promise<void>;
  /** Resolves when the store can serve requests. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('session store unavailable', { cause });
    this.name = 'StoreUnavailableError';
  }
}
