// Bench target names: `<store>[+2fe][@<git revision>][%NAME=value…]` (bench/README.md), parsed
// here and nowhere else, so that every file name, key prefix, label and comparison derived from a
// name agrees with the others.
import { createHash } from 'node:crypto';

/** `<store>+2fe`: the store behind a BFF_CONFIG of two frontends; the bench's requests go to one of them. */
export const TWO_FRONTENDS = '+2fe';

/**
 * What the driver sets for each BFF itself (its address, IdP client, store and key prefix, the
 * login limits; not LOG_LEVEL, which a target may change): a
 * target's `%NAME=value` may not replace them, or two targets could share a Redis key prefix or a
 * target labelled `redis` run another store.
 */
export const DRIVER_SETTINGS = new Set([
  'PUBLIC_URL',
  'HOST',
  'PORT',
  'ADMIN_PORT',
  'OIDC_ISSUER',
  'OIDC_CLIENT_ID',
  'OIDC_CLIENT_SECRET',
  'OIDC_ALLOW_HTTP',
  'OIDC_SCOPES',
  'API_UPSTREAM',
  'SESSION_STORE',
  'SESSION_SECRETS',
  'BFF_CONFIG',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  // Off for the bench: every bench login comes from 127.0.0.1, and the memory stage makes 10 000.
  'RATE_LIMIT_PER_MINUTE',
  'LOGIN_MAX_PENDING_PER_CLIENT',
]);

/**
 * A target's name in the report. `cookie+redis` is SESSION_STORE=cookie with REDIS_URL set (revocation
 * list, jti replay records, rate limits in Redis).
 */
export function storeLabel(store: string): string {
  const rev = revisionOf(store);
  const plain = plainStore(store);
  const settings = settingsOf(store).map((kv) => kv.join('='));
  const [mode, side] = plain.replace(TWO_FRONTENDS, '').split('+');
  const label = side ? `oidc-bff, ${mode} store with ${side}` : `oidc-bff, ${mode} store`;
  const labelled = twoFrontends(plain) ? `${label}, 2 frontends (BFF_CONFIG)` : label;
  const revised = rev ? `${labelled} at ${rev}` : labelled;
  return settings.length ? `${revised} (${settings.join(', ')})` : revised;
}

/**
 * `<store>@<git revision>`: the same store served by oidc-bff as it was at that revision
 * (its src/, dev/, views/ and bench/servers/ taken from git, the current node_modules), so that a
 * change is measured against its baseline in the same run, round by round.
 */
export function revisionOf(store: string): string | undefined {
  const name = withoutSettings(store);
  const at = name.indexOf('@');
  return at === -1 ? undefined : name.slice(at + 1);
}
/** The store alone, without revision and settings: what the store kind is read from. */
export function plainStore(store: string): string {
  const name = withoutSettings(store);
  const at = name.indexOf('@');
  return at === -1 ? name : name.slice(0, at);
}
/** The same target in this checkout: `redis%A=1` for `redis@abc123%A=1`. */
export function withoutRevision(store: string): string {
  return plainStore(store) + store.slice(withoutSettings(store).length);
}

/**
 * `<target>%NAME=value`, repeatable, last in the name (after `+2fe` and `@<rev>`, so a revision
 * never takes them in): added to that BFF's environment after BENCH_BFF_ENV, so that a setting is
 * measured against the default in the same rounds. A value may hold `=`; not `%` or `,` (the separators).
 */
export function settingsOf(store: string): Array<[string, string]> {
  return store
    .split('%')
    .slice(1)
    .map((kv) => {
      const eq = kv.indexOf('=');
      const name = eq === -1 ? '' : kv.slice(0, eq);
      if (!/^[A-Za-z_]\w*$/.test(name)) throw new Error(`BENCH_STORES: "${store}": a setting after % is NAME=value, got "${kv}"`);
      if (DRIVER_SETTINGS.has(name)) throw new Error(`BENCH_STORES: "${store}": ${name} is set by the bench for each BFF; a target may not replace it`);
      // The label goes into the report's Markdown tables.
      if (kv.includes('|')) throw new Error(`BENCH_STORES: "${store}": a setting's value may not hold "|"`);
      return [name, kv.slice(eq + 1)];
    });
}
export function withoutSettings(store: string): string {
  const at = store.indexOf('%');
  return at === -1 ? store : store.slice(0, at);
}

/**
 * A target's name in file names and REDIS_KEY_PREFIX: the name itself when every character is
 * safe there, else the others replaced and a hash of the name appended, so that no two targets
 * share a log file or a key prefix (`redis@main~2` and `redis@main^2`; `%A=x/y` and `%A=x-y`).
 */
export function slug(store: string): string {
  const safe = store.replace(/[^\w+@%=.-]/g, '-');
  // Kept well under a file name's 255 bytes (`bff-<slug>-many.txt`, long `%NODE_OPTIONS=…` values).
  if (safe === store && safe.length <= 100) return safe;
  return `${safe.slice(0, 100)}-${createHash('sha256').update(store).digest('hex').slice(0, 8)}`;
}

/** `<store>+2fe`: the store behind a BFF_CONFIG of two frontends (TWO_FRONTENDS). */
export function twoFrontends(store: string): boolean {
  return plainStore(store).endsWith(TWO_FRONTENDS);
}
export function sessionStore(store: string): string {
  return plainStore(store).split('+')[0]!;
}
export function withRedis(store: string): boolean {
  return sessionStore(store) === 'redis' || plainStore(store).includes('+redis');
}
