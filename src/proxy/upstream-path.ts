import { everyDecodedForm } from '../web/percent-decode.js';
/**
 * Path-traversal check for the part of a proxied request path that follows
 * the API prefix, before it is appended to the upstream base path.
 *
 * The BFF forwards the raw (still percent-encoded) path, and the upstream, or
 * anything in front of it, may decode it once, twice, or interpret `;` path
 * parameters (Tomcat/Jetty) or Unicode compatibility forms. The check is
 * therefore done against every decoded form, and the input is returned
 * untouched or refused, never "repaired".
 *
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-3.3 path segments
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4 dot-segment removal
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-2.1 percent-encoding
 *
 * @module
 */

// Enough for any honest double/triple encoding; deeper nesting only serves to
// outlast a decoder, so running out of rounds is treated as a refusal.
const MAX_DECODE_ROUNDS = 4;

// The common case ('/users/42', '', '/', '/a/b/'): printable ASCII without
// '%', '.', '/', ';', '\\', '?', '#' inside segments and no empty segment
// except a trailing slash. Each repetition must begin with '/', which the
// class excludes, so matching is linear.
const FAST_PATH = /^(?:\/[\x21\x22\x24\x26-\x2d\x30-\x3a\x3c-\x3e\x40-\x5b\x5d-\x7e]+)*\/?$/;

// Raw input: anything outside printable ASCII is something a conforming
// client would have percent-encoded (and undici rejects most of it); a
// literal backslash is a separator for many servers; '?' and '#' mean the
// caller passed more than a path.
const RAW_FORBIDDEN = /[^\x21-\x7e]|[\\?#]/;
// Decoded forms: encoded separators and control characters.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const DECODED_FORBIDDEN = /[\x00-\x1f\x7f/\\]/;
// '.', '..', '...' and their ';'-parameter forms ('..;jsessionid=x'), which
// Tomcat/Jetty/Spring strip back to a dot segment. Whitespace is tolerated
// around the dots because Windows-backed servers trim it. The lookahead
// demands a dot; the rest has no nested quantifier, so matching is linear.
const DOT_SEGMENT = /^(?=\s*\.)[.\s]+(?:;|$)/;
// eslint-disable-next-line no-control-regex -- the range starts at NUL to say "everything above ASCII"
const NON_ASCII = /[^\x00-\x7f]/;
// Characters that NFKC leaves alone but some servers' "best fit" code-page
// conversion or normalisation turns into '/', '\\' or '%'.
const SEPARATOR_LOOKALIKE = /[\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe6a\uff05]/;

/** Checks a decoded segment containing non-ASCII against its compatibility form ('．．' → '..', '／' → '/'). */
function unicodeSegmentIsSafe(segment: string): boolean {
  if (SEPARATOR_LOOKALIKE.test(segment)) return false;
  const compatible = segment.normalize('NFKC');
  return compatible === segment || !(DOT_SEGMENT.test(compatible) || DECODED_FORBIDDEN.test(compatible));
}

function segmentIsSafe(rawSegment: string): boolean {
  return everyDecodedForm(rawSegment, MAX_DECODE_ROUNDS, safeSegmentForm);
}

function safeSegmentForm(form: string, round: number): boolean {
  if (DOT_SEGMENT.test(form)) return false;
  if (round === 0) return true;
  return !DECODED_FORBIDDEN.test(form) && (!NON_ASCII.test(form) || unicodeSegmentIsSafe(form));
}

/**
 * Returns `rawRest` unchanged when it cannot leave the upstream base path, or
 * `null` when it would (or when it is malformed).
 *
 * `rawRest` is the still percent-encoded path after the API prefix, without
 * the query string: `''` or starting with `/` (`'/users/42'`, `'/a%20b'`).
 *
 * Each segment is checked raw and after every round of percent-decoding
 * (until stable, at most 4 rounds). Refused:
 * - `.` / `..` segments, in any encoding (`%2e%2e`, `.%2e`, `%252e%252e`),
 *   and segments made only of dots, so `...` too: some normalisers treat it
 *   as a parent reference and no API needs it. Whitespace around the dots
 *   (`..%20`) counts, as Windows-backed servers trim it.
 * - segments starting with `.;` / `..;` at any level (Tomcat/Jetty path
 *   parameters are stripped before normalisation, so `..;x` acts as `..`).
 * - an encoded `/` or `\` at any level (`%2f`, `%5c`, `%252f`, `%255c`), a
 *   literal `\`, a control character (NUL, CR, LF, ...) at any level.
 * - a decode error (malformed `%`, invalid UTF-8 such as overlong `%c0%ae`,
 *   IIS `%u002e`), or a segment still encoded after 4 rounds.
 * - an empty segment (`//`, `/a//b`): upstream routers disagree on whether to
 *   collapse it, and a leading `//` can read as a network-path reference.
 *   A single trailing slash (`/users/`) is allowed.
 * - anything outside printable ASCII in the raw input (a raw space or raw
 *   non-ASCII: conforming clients percent-encode them; undici would reject
 *   most), and a literal `?` or `#` (the input is a path only).
 * - segments whose decoded form contains non-ASCII that NFKC turns into a dot
 *   segment or a separator (`％２ｅ`-style full-width forms, `‥`), or a few
 *   slash/percent look-alikes NFKC leaves alone (`∕`, `⁄`, `∖`, `％`).
 *
 * Allowed: dots inside names (`/v1/file.json`, `/a..b`, `/.well-known`),
 * `;` inside a segment not preceded only by dots (`/a;b=c`), encoded spaces
 * and other characters (`/a%20b`, `%3F`, `%23`), percent-encoded UTF-8
 * (`/caf%C3%A9`).
 *
 * Input without `%`, `.`, `;`, `\`, `?`, `#`, empty segments or characters
 * outside printable ASCII is accepted by a single regex test.
 *
 * @param rawRest - The raw request path after the API prefix.
 * @returns `rawRest` itself, or `null` when it must not be forwarded.
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4
 * @see https://owasp.org/www-community/attacks/Path_Traversal
 */
export function checkUpstreamPath(rawRest: string): string | null {
  if (typeof rawRest !== 'string') return null;
  if (FAST_PATH.test(rawRest)) return rawRest;
  if (rawRest.charCodeAt(0) !== 0x2f || RAW_FORBIDDEN.test(rawRest)) return null;

  const length = rawRest.length;
  let start = 1;
  while (start <= length) {
    let end = rawRest.indexOf('/', start);
    if (end === -1) end = length;
    if (end === start) {
      if (end === length) break;
      return null;
    }
    if (!segmentIsSafe(rawRest.slice(start, end))) return null;
    start = end + 1;
  }
  return rawRest;
}
