import { BffError } from '../errors/bff-error.js';

/**
 * Finds the API route a request path maps to: the most specific prefix (whole segments only).
 * The /api/* proxy and the gateway's forward-auth endpoint both ask it, so a path gets the same
 * route, and so the same rules, whichever way it comes in.
 */
export function routeTable<T extends { readonly path: string }>(routes: readonly T[]): (path: string) => T | undefined {
  const table = routes.map((route) => ({ route, prefix: route.path, below: `${route.path}/` }));
  const canonicalTable = table.map((e) => ({ ...e, prefix: e.prefix.toLowerCase(), below: e.below.toLowerCase() }));
  // Routes are sorted longest first, so the first match is the most specific.
  const find = (entries: typeof table, path: string) => entries.findIndex((entry) => matches(path, entry));
  const only = table.length === 1 ? table[0] : undefined;
  if (only) return (path) => (matches(path, only) ? only.route : undefined);
  return (path) => {
    const index = find(table, path);
    // An upstream may read /api/%61dmin, /api/admin;x or /api/ADMIN as /api/admin: such a path
    // must not slip past the /api/admin route (its scopes, its token) to a shorter one.
    if (MAY_DISGUISE.test(path) && find(canonicalTable, canonicalPath(path)) !== index) {
      throw new BffError('invalid_path', { event: 'proxy.path_refused', detail: 'path names another route once normalised' });
    }
    return table[index]?.route;
  };
}

const matches = (path: string, entry: { prefix: string; below: string }) => path === entry.prefix || path.startsWith(entry.below);

const MAY_DISGUISE = /[%;A-Z]/;
const UNRESERVED_ESCAPE = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/g;

/**
 * The path as lenient servers read it (RFC 3986 6.2.2): escapes of unreserved characters
 * decoded, `;parameters` dropped from each segment, and case folded (case-insensitive servers).
 */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => segment.replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(parseInt(e.slice(1), 16))).split(';')[0]!)
    .join('/')
    .toLowerCase();
}
