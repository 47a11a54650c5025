import { everyDecodedForm } from '../web/percent-decode.js';
/**
 * Validation of the post-login `returnTo` target (open-redirect defence).
 *
 * The value comes from the SPA (query string or login state) and ends up in a
 * `Location` header, so it is attacker-controlled input to a redirect.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.11 OAuth 2.0 Security BCP, Open Redirection
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.15 OAuth 2.0, Open Redirectors
 * @see https://url.spec.whatwg.org/ WHATWG URL Standard (what browsers actually do)
 *
 * @module
 */

/** Which redirect targets {@link safeReturnTo} accepts besides same-origin paths. */
export interface ReturnToPolicy {
  /** The origin the SPA and the BFF are served from, e.g. `https://app.example.com` (no path). */
  publicOrigin: string;
  /** Further origins an absolute `returnTo` may point at, e.g. `https://admin.example.com` (no path). */
  allowedOrigins: readonly string[];
}

const REFUSED = '/';
const MAX_LENGTH = 2048;
// Enough for any honest double/triple encoding; deeper nesting only serves to
// outlast a decoder, so running out of rounds is treated as a refusal.
const MAX_DECODE_ROUNDS = 4;

// C0 (incl. TAB/CR/LF) and DEL enable header injection and are stripped by
// browsers' URL parsers (so '/\t/evil' becomes '//evil'); backslash is read
// as '/' by browsers in special-scheme URLs.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const FORBIDDEN_CHAR = /[\x00-\x1f\x7f\\]/;
// Demands the literal '//' authority marker and a non-empty authority: WHATWG
// would otherwise accept 'https:evil.com' / 'https:/evil.com' / 'https:///evil.com',
// and resolve 'https:app.example.com' differently with and without a base URL.
// Group 1 is the raw authority (backslashes are already refused, so only
// '/', '?' and '#' can end it).
const ABSOLUTE = /^https?:\/\/([^/?#]+)/i;

interface CompiledPolicy {
  readonly origins: ReadonlySet<string>;
  readonly publicOrigin: string | null;
  readonly base: URL | null;
}

// Keyed by the policy object so that a long-lived config object is compiled
// once; a throwaway policy literal per call still works, just uncached.
const compiledPolicies = new WeakMap<ReturnToPolicy, CompiledPolicy>();

/** Serialised origin of an http(s) origin string; null for anything unusable, so bad config fails closed. */
function normaliseOrigin(origin: unknown): string | null {
  if (typeof origin !== 'string') return null;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username !== '' || url.password !== '') return null;
  return url.origin;
}

function compile(policy: ReturnToPolicy): CompiledPolicy {
  const publicOrigin = normaliseOrigin(policy.publicOrigin);
  const origins = new Set<string>();
  if (publicOrigin !== null) origins.add(publicOrigin);
  const allowed = Array.isArray(policy.allowedOrigins) ? policy.allowedOrigins : [];
  for (const entry of allowed) {
    const origin = normaliseOrigin(entry);
    if (origin !== null) origins.add(origin);
  }
  const compiled: CompiledPolicy = {
    origins,
    publicOrigin,
    base: publicOrigin === null ? null : new URL(`${publicOrigin}/`),
  };
  compiledPolicies.set(policy, compiled);
  return compiled;
}

/**
 * Percent-decodes `value` until it stops changing and checks every form.
 *
 * Something between the browser and the final consumer (a reverse proxy, a
 * router, the SPA itself) may decode again, so each decoded form must be as
 * harmless as the raw one.
 */
function decodesSafely(value: string, refuseDoubleSlashPrefix: boolean): boolean {
  return everyDecodedForm(value, MAX_DECODE_ROUNDS, refuseDoubleSlashPrefix ? safeNotSchemeRelative : safeForm);
}

const safeForm = (form: string, round: number) => round === 0 || !FORBIDDEN_CHAR.test(form);
const safeNotSchemeRelative = (form: string, round: number) => safeForm(form, round) && !(form.charCodeAt(0) === 0x2f && form.charCodeAt(1) === 0x2f);

/**
 * Returns a redirect target that is safe to put in a `Location` header after login.
 *
 * Accepted:
 * - a same-origin path: starts with exactly one `/`. It is resolved against
 *   `publicOrigin` with the WHATWG URL parser and returned as
 *   `pathname + search + hash` of that result, i.e. exactly what a browser
 *   would request: dot segments removed, spaces and non-ASCII
 *   percent-encoded (so the result is printable ASCII).
 * - an absolute `http(s)://` URL without userinfo whose origin equals
 *   `publicOrigin` or one of `allowedOrigins`. It is returned as the
 *   normalised `URL.href`, also when it is same-origin: deriving a relative
 *   path from it would need the same `//` re-check, and the absolute form
 *   cannot be misread as scheme-relative.
 *
 * Everything else yields `'/'`, notably: non-strings, `''`, more than 2048
 * characters; a C0 control, DEL or backslash in the raw value or in any
 * percent-decoded form (decoded until stable, at most 4 rounds, a decode
 * error or a still-encoded value after 4 rounds is refused); a path whose
 * raw, decoded or dot-segment-resolved form starts with `//`; other schemes
 * (`javascript:`, `data:`, ...) and encoded schemes; `https:host` without
 * `//`; any `@` in the authority (even an empty userinfo); relative
 * references not starting with `/` (`dashboard`, `?x`, `#x`).
 *
 * A legitimate target containing a bare `%` (or `%25` that decodes to one) is
 * refused too: that is the cost of refusing on decode errors.
 *
 * The policy is compiled on first use and cached per policy object; treat it
 * as immutable. Origins in it that are not http(s) origins are ignored.
 *
 * @param raw - The untrusted `returnTo` value.
 * @param policy - Where absolute targets may point.
 * @returns A safe target; `'/'` when `raw` is refused.
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.11
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-4.2 network-path ('//host') references
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.2 Location
 * @see https://url.spec.whatwg.org/#concept-basic-url-parser
 */
export function safeReturnTo(raw: unknown, policy: ReturnToPolicy): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return REFUSED;
  if (FORBIDDEN_CHAR.test(raw)) return REFUSED;

  const compiled = compiledPolicies.get(policy) ?? compile(policy);

  if (raw.charCodeAt(0) === 0x2f) {
    if (compiled.base === null) return REFUSED;
    if (!decodesSafely(raw, true)) return REFUSED;
    let url: URL;
    try {
      url = new URL(raw, compiled.base);
    } catch {
      return REFUSED;
    }
    // Dot-segment removal can turn '/a/..//evil' into the path '//evil',
    // which would be scheme-relative once returned on its own.
    if (url.origin !== compiled.publicOrigin || !decodesSafely(url.pathname, true)) return REFUSED;
    return url.pathname + url.search + url.hash;
  }

  const absolute = ABSOLUTE.exec(raw);
  // Checked on the raw authority, not only on URL.username:
  // 'https://@app.example.com' has an empty userinfo the parser drops silently.
  if (absolute === null || absolute[1] === undefined || absolute[1].indexOf('@') !== -1) return REFUSED;
  if (!decodesSafely(raw, false)) return REFUSED;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return REFUSED;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return REFUSED;
  if (url.username !== '' || url.password !== '') return REFUSED;
  if (!compiled.origins.has(url.origin)) return REFUSED;
  if (!decodesSafely(url.pathname, true)) return REFUSED;
  return url.href;
}
