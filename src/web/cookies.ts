/**
 * Cookie reading and writing, by hand rather than through `cookies`/Koa: Koa's helper refuses
 * to set a Secure cookie when the request reached us over plain http, which is exactly the
 * situation behind a TLS-terminating proxy. Whether cookies are Secure is decided by
 * PUBLIC_URL, never by the incoming request.
 */
export interface CookieAttributes {
  maxAgeSeconds?: number;
  sameSite: 'Lax' | 'Strict';
  secure: boolean;
  /** Path attribute; default /. A frontend under a path prefix keeps its cookies under it. */
  path?: string;
}

/**
 * Value of the cookie called `name` in a Cookie header; undefined when absent, and also when
 * the name appears more than once: a second copy can only be planted (a sibling host, a path
 * cookie, a network attacker on http), and which one a browser sends first is not ours to
 * guess, so neither is trusted.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  let from = 0;
  while (from < header.length) {
    let end = header.indexOf(';', from);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', from);
    if (eq !== -1 && eq < end && header.slice(from, eq).trim() === name) {
      if (found !== undefined) return undefined;
      found = header.slice(eq + 1, end).trim();
    }
    from = end + 1;
  }
  return found;
}

export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  let out = `${name}=${value}; Path=${a.path ?? '/'}; HttpOnly; SameSite=${a.sameSite}`;
  if (a.secure) out += '; Secure';
  if (a.maxAgeSeconds !== undefined) out += `; Max-Age=${Math.max(0, Math.floor(a.maxAgeSeconds))}`;
  return out;
}

export function expiredCookie(name: string, a: CookieAttributes): string {
  return `${serializeCookie(name, '', { ...a, maxAgeSeconds: 0 })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}
