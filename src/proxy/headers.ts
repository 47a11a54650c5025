/**
 * Header filtering for the `/api/*` proxy, in both directions.
 *
 * Upstream-bound: nothing that authenticates the browser to the BFF (its
 * cookies, an `Authorization` it may try to smuggle) or that describes the
 * client-to-BFF connection may reach the API. Client-bound: the API must not
 * be able to set or overwrite the BFF's own cookies.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1 Connection and hop-by-hop fields
 * @see https://www.rfc-editor.org/rfc/rfc7239 Forwarded HTTP Extension
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.2 Set-Cookie parsing
 *
 * @module
 */

import type { IncomingHttpHeaders } from 'node:http';

/** The client-facing connection as seen by the BFF, reported to the upstream as X-Forwarded-*. */
export interface ForwardedInfo {
  /** Client IP address (`ctx.ip`). */
  for: string;
  proto: 'http' | 'https';
  /** Host the client addressed, e.g. `app.example.com`. */
  host: string;
}

/** Options for {@link upstreamRequestHeaders}. */
export interface RequestHeaderOptions {
  /** True for the BFF's own cookies (session, login state, chunks); they never reach the upstream. */
  isOwnCookie: (name: string) => boolean;
  /** Extra lower-case header names to drop, e.g. the anti-CSRF header `x-csrf`. */
  dropHeaders: readonly string[];
  forwarded: ForwardedInfo;
  /**
   * True: the BFF sits behind a trusted proxy; an incoming X-Forwarded-For is
   * appended to and incoming `Forwarded` / other `X-Forwarded-*` are kept.
   * False: they are client-controlled and are dropped or replaced.
   */
  trustProxy: boolean;
  /** Sent as `x-request-id`, replacing any incoming one. */
  requestId: string;
}

type OutHeaders = Record<string, string | string[]>;

// RFC 9110 §7.6.1 plus the RFC 9112/7230 legacy names; http2-settings is
// connection-specific for the h2c upgrade (RFC 7540 §3.2.1).
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

// host: the upstream client sets it from the upstream origin. authorization: the BFF
// sets its own bearer token; a browser-supplied one must never pass.
// x-request-id and the X-Forwarded-* trio are replaced with ours. expect:
// Node's server already answered 100-continue.
// x-original-url / x-rewrite-url: IIS/Symfony-style path overrides that
// would bypass the upstream-path check done on the request line.
const REQUEST_ALWAYS_DROPPED: ReadonlySet<string> = new Set([
  'host',
  'authorization',
  // A browser's own DPoP proof must not ride along with the token the BFF chose (RFC 9449).
  'dpop',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'expect',
  'x-original-url',
  'x-rewrite-url',
  // Identity assertions that gateways such as oauth2-proxy put on requests: an API behind
  // one may trust them, so a browser must never be able to send them through us.
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
  'x-auth-request-access-token',
  'x-remote-user',
  'x-remote-email',
  'x-remote-groups',
  'x-user',
  'x-email',
  'remote-user',
]);

// Client-identity headers that only a trusted proxy may set.
const UNTRUSTED_FORWARDING: ReadonlySet<string> = new Set(['forwarded', 'x-real-ip']);

// RFC 9110 §5.6.2 token, lower-case only because names are lower-cased first.
// undici throws on names outside it.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// Same set Node's http and undici accept in a field value; CR/LF/NUL would be
// header injection, and undici or Koa would throw later.
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CONTENT_LENGTH = /^\d+$/;

const EMPTY_SET: ReadonlySet<string> = new Set();
const dropSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** Lower-cased set of `dropHeaders`, cached per array (config is long-lived). */
function dropSetFor(list: readonly string[]): ReadonlySet<string> {
  if (!Array.isArray(list) || list.length === 0) return EMPTY_SET;
  let set = dropSets.get(list);
  if (set === undefined) {
    const built = new Set<string>();
    for (const name of list) if (typeof name === 'string') built.add(name.trim().toLowerCase());
    set = built;
    dropSets.set(list, set);
  }
  return set;
}

/** Header names listed in a Connection value, lower-cased; null when there are none. */
function connectionTokens(value: unknown): Set<string> | null {
  let joined: string;
  if (typeof value === 'string') joined = value;
  else if (Array.isArray(value)) joined = value.filter(isString).join(',');
  else return null;
  let tokens: Set<string> | null = null;
  let start = 0;
  while (start <= joined.length) {
    let end = joined.indexOf(',', start);
    if (end === -1) end = joined.length;
    const token = joined.slice(start, end).trim().toLowerCase();
    if (token !== '') (tokens ??= new Set()).add(token);
    start = end + 1;
  }
  return tokens;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/**
 * A header value as something undici/Node will accept: strings kept when
 * valid, finite numbers stringified, arrays filtered, anything else dropped.
 */
function cleanValue(value: unknown): string | string[] | undefined {
  if (typeof value === 'string') return INVALID_VALUE.test(value) ? undefined : value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (!Array.isArray(value)) return undefined;
  const kept: string[] = [];
  for (const item of value) {
    if (typeof item === 'string' && !INVALID_VALUE.test(item)) kept.push(item);
  }
  if (kept.length === 0) return undefined;
  return kept.length === 1 ? kept[0] : kept;
}

/** Adds a value, merging into an array when odd input had the same name twice (e.g. 'X-A' and 'x-a'). */
function append(out: OutHeaders, name: string, value: string | string[]): void {
  const existing = out[name];
  if (existing === undefined) {
    out[name] = value;
    return;
  }
  const merged = typeof existing === 'string' ? [existing] : existing;
  if (typeof value === 'string') merged.push(value);
  else for (const item of value) merged.push(item);
  out[name] = merged;
}

/** A lower-cased header name usable as an output key, or null. */
function headerName(rawName: string): string | null {
  const name = rawName.toLowerCase();
  // A '__proto__' key would hit the prototype setter of the plain output object.
  return TOKEN.test(name) && name !== '__proto__' ? name : null;
}

/**
 * Appends the pairs of one Cookie header value that are not the BFF's own.
 *
 * A pair without '=' is a nameless cookie per RFC 6265bis, but lenient
 * parsers read 'bff_session' as a cookie of that name, so the whole pair is
 * also checked as a name.
 */
function collectForeignCookies(header: string, isOwnCookie: (name: string) => boolean, kept: string[]): void {
  const length = header.length;
  let start = 0;
  while (start < length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    const pair = header.slice(start, end).trim();
    start = end + 1;
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (isOwnCookie(eq === -1 ? pair : pair.slice(0, eq).trim())) continue;
    kept.push(pair);
  }
}

/**
 * A Cookie header without the BFF's own cookies, by the same rules as the upstream request
 * headers; '' when nothing remains (or the rest is not a valid field value).
 */
export function foreignCookieHeader(value: string | string[] | undefined, isOwnCookie: (name: string) => boolean): string {
  const kept: string[] = [];
  for (const item of typeof value === 'string' ? [value] : (value ?? [])) {
    if (typeof item === 'string') collectForeignCookies(item, isOwnCookie, kept);
  }
  const cookie = kept.join('; ');
  return INVALID_VALUE.test(cookie) ? '' : cookie;
}

/**
 * Builds the headers for the upstream request from the browser's request headers.
 *
 * Dropped: hop-by-hop fields (`connection`, `keep-alive`, `proxy-connection`,
 * `proxy-authenticate`, `proxy-authorization`, `te`, `trailer`,
 * `transfer-encoding`, `upgrade`, `http2-settings`) and every field named in
 * the incoming `Connection`; `host`; `authorization`; `opts.dropHeaders`;
 * `expect` (Node has already handled `100-continue`, and undici rejects it);
 * `x-original-url` / `x-rewrite-url` (path overrides that would bypass the
 * path check); a `content-length` that is not a single decimal number
 * (undici then frames the streamed body itself). Without `trustProxy` also
 * `forwarded`, `x-real-ip` and every `x-forwarded-*`.
 *
 * Rewritten: `cookie` without the BFF's own cookies (dropped when nothing
 * remains); `x-forwarded-for` is the client IP, appended to the incoming
 * value only when `trustProxy`; `x-forwarded-proto` / `x-forwarded-host`
 * from `opts.forwarded`; `x-request-id` from `opts.requestId`. These are
 * added after the Connection-based removal, so a client cannot use
 * `Connection: x-forwarded-for` to strip them.
 *
 * Everything else, including `content-type` and `content-length`, is kept.
 * Names are lower-cased and must be RFC 9110 tokens; values containing CR,
 * LF, NUL or other controls, and non-string non-number values, are dropped.
 * Never throws on odd input (only `opts.isOwnCookie` itself could).
 *
 * @param incoming - `req.headers` from `node:http`.
 * @param opts - See {@link RequestHeaderOptions}.
 * @returns A fresh object for the upstream request's headers.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1
 * @see https://www.rfc-editor.org/rfc/rfc7239#section-8.1 Forwarded header and spoofed client IPs
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.4 Cookie header
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, opts: RequestHeaderOptions): Record<string, string | string[]> {
  const out: OutHeaders = {};
  if (incoming === null || typeof incoming !== 'object') incoming = {};
  const nominated = connectionTokens(incoming.connection);
  const dropped = dropSetFor(opts.dropHeaders);
  const trustProxy = opts.trustProxy === true;
  const keptCookies: string[] = [];
  let forwardedFor: string[] | null = null;

  for (const rawName of Object.keys(incoming)) {
    const name = headerName(rawName);
    if (name === null) continue;
    if (HOP_BY_HOP.has(name) || (nominated !== null && nominated.has(name)) || dropped.has(name)) continue;
    const value = incoming[rawName];

    if (name === 'cookie') {
      if (typeof value === 'string') collectForeignCookies(value, opts.isOwnCookie, keptCookies);
      else if (Array.isArray(value)) {
        for (const item of value) if (typeof item === 'string') collectForeignCookies(item, opts.isOwnCookie, keptCookies);
      }
      continue;
    }
    if (name === 'x-forwarded-for') {
      if (!trustProxy) continue;
      const cleaned = cleanValue(value);
      if (cleaned === undefined) continue;
      forwardedFor ??= [];
      if (typeof cleaned === 'string') forwardedFor.push(cleaned);
      else for (const item of cleaned) forwardedFor.push(item);
      continue;
    }
    if (REQUEST_ALWAYS_DROPPED.has(name)) continue;
    // Only the X-Forwarded-* fields we set ourselves go on: X-Forwarded-User/-Email/-Groups and
    // friends are identity assertions that no browser may make, trusted proxy or not.
    if (name.startsWith('x-forwarded-')) continue;
    if (!trustProxy && UNTRUSTED_FORWARDING.has(name)) continue;

    const cleaned = cleanValue(value);
    if (cleaned === undefined) continue;
    if (name === 'content-length' && (typeof cleaned !== 'string' || !CONTENT_LENGTH.test(cleaned))) continue;
    append(out, name, cleaned);
  }

  if (keptCookies.length > 0) {
    const cookie = keptCookies.join('; ');
    if (!INVALID_VALUE.test(cookie)) out['cookie'] = cookie;
  }

  const clientIp = opts.forwarded.for;
  let xff = '';
  if (forwardedFor !== null) {
    for (const part of forwardedFor) {
      const trimmed = part.trim();
      if (trimmed !== '') xff = xff === '' ? trimmed : `${xff}, ${trimmed}`;
    }
  }
  if (typeof clientIp === 'string' && clientIp !== '') xff = xff === '' ? clientIp : `${xff}, ${clientIp}`;
  setIfValid(out, 'x-forwarded-for', xff);
  setIfValid(out, 'x-forwarded-proto', opts.forwarded.proto);
  setIfValid(out, 'x-forwarded-host', opts.forwarded.host);
  setIfValid(out, 'x-request-id', opts.requestId);
  return out;
}

function setIfValid(out: OutHeaders, name: string, value: unknown): void {
  if (typeof value === 'string' && value !== '' && !INVALID_VALUE.test(value)) out[name] = value;
}

/**
 * The cookie name of a Set-Cookie value: the name-value pair ends at the
 * first ';' (RFC 6265 §5.2), so 'bff_session; Path=/' is not read as named
 * 'bff_session; Path'. A pair without '=' is returned whole, for the same
 * lenient-parser reason as on the request side.
 */
function setCookieName(value: string): string {
  let end = value.indexOf(';');
  if (end === -1) end = value.length;
  const eq = value.indexOf('=');
  return (eq !== -1 && eq < end ? value.slice(0, eq) : value.slice(0, end)).trim();
}

/**
 * Filters the upstream response's headers before they are copied to the browser.
 *
 * Dropped: hop-by-hop fields (same set as for requests) and every field named
 * in the response's `Connection`; each `set-cookie` entry whose cookie name
 * `isOwnCookie` accepts, so the API cannot plant, overwrite or delete the
 * BFF's session or login cookies (other `set-cookie` entries are kept).
 * Names are lower-cased and must be RFC 9110 tokens; values with CR, LF, NUL
 * or other controls, `undefined` and other non-string values are dropped.
 * Never throws on odd input (only `isOwnCookie` itself could).
 *
 * @param upstream - Response headers from the upstream (lower-case names).
 * @param isOwnCookie - True for the BFF's own cookie names.
 * @returns A fresh object to copy onto the client response.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.2
 */
export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  isOwnCookie: (name: string) => boolean,
): Record<string, string | string[]> {
  const out: OutHeaders = {};
  if (upstream === null || typeof upstream !== 'object') return out;
  const nominated = connectionTokens(upstream['connection']);

  for (const rawName of Object.keys(upstream)) {
    const name = headerName(rawName);
    if (name === null) continue;
    if (HOP_BY_HOP.has(name) || (nominated !== null && nominated.has(name))) continue;
    const cleaned = cleanValue(upstream[rawName]);
    if (cleaned === undefined) continue;

    if (name === 'set-cookie') {
      const entries = typeof cleaned === 'string' ? [cleaned] : cleaned;
      const kept: string[] = [];
      for (const entry of entries) {
        const cookieName = setCookieName(entry);
        // A nameless cookie ('=bff-session=x') is read back as 'bff-session=x' by some clients.
        if (cookieName !== '' && !isOwnCookie(cookieName)) kept.push(entry);
      }
      // Always an array: Node's setHeader sends one Set-Cookie line per entry.
      if (kept.length > 0) append(out, name, kept);
      continue;
    }
    append(out, name, cleaned);
  }
  return out;
}
