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
}

/** Value of the first cookie called `name` in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let from = 0;
  while (from < header.length) {
    let end = header.indexOf(';', from);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', from);
    if (eq !== -1 && eq < end && header.slice(from, eq).trim() === name) return header.slice(eq + 1, end).trim();
    from = end + 1;
  }
  return undefined;
}

export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  let out = `${name}=${value}; Path=/; HttpOnly; SameSite=${a.sameSite}`;
  if (a.secure) out += '; Secure';
  if (a.maxAgeSeconds !== undefined) out += `; Max-Age=${Math.max(0, Math.floor(a.maxAgeSeconds))}`;
  return out;
}

export function expiredCookie(name: string, a: CookieAttributes): string {
  return `${serializeCookie(name, '', { ...a, maxAgeSeconds: 0 })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}
