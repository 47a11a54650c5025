/**
 * Shape check of a browser-facing route's query string, before anything is stored or sent to
 * the IdP: bounded length, well-formed percent-encoding, plain parameter names, no repeats.
 * An honest SPA or IdP never fails it; garbage gets a 400 instead of being half-understood.
 */
const NAME = /^[A-Za-z0-9_.~-]{1,64}$/;
export const MAX_QUERY_LENGTH = 8192;

/** '' when the query is acceptable, otherwise the reason (for the log, not the client). */
export function queryProblem(raw: string): string {
  if (raw.length > MAX_QUERY_LENGTH) return `query string over ${MAX_QUERY_LENGTH} bytes`;
  const seen = new Set<string>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let name: string;
    try {
      name = decodeURIComponent((eq === -1 ? pair : pair.slice(0, eq)).replaceAll('+', ' '));
      if (eq !== -1) decodeURIComponent(pair.slice(eq + 1).replaceAll('+', ' '));
    } catch {
      return 'malformed percent-encoding';
    }
    if (!NAME.test(name)) return 'malformed parameter name';
    if (seen.has(name)) return `repeated parameter ${name}`;
    seen.add(name);
  }
  return '';
}
