/**
 * The authorization request parameters a SPA may pass through /login, with the shape each
 * must have. Anything else in the query is ignored; a malformed allowed one is refused, so a
 * typo shows up as an error instead of a silently different login.
 */
const RULES: Record<string, RegExp> = {
  prompt: /^(?:none|login|consent|select_account)(?: (?:none|login|consent|select_account))*$/,
  login_hint: /^[^\p{Cc}]{1,256}$/u,
  acr_values: /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/,
  // Seconds; the callback then demands an auth_time at most this old (OIDC Core 3.1.2.1).
  max_age: /^\d{1,10}$/,
  ui_locales: /^[A-Za-z0-9-]+(?: [A-Za-z0-9-]+)*$/,
};
const MAX_LENGTH = 256;

export type LoginParams = Record<string, string>;

/** The allowed extra parameters found in `query`, or the name of the first malformed one. */
export function pickLoginParams(query: Record<string, string | string[] | undefined>): { params: LoginParams } | { invalid: string } {
  const params: LoginParams = {};
  for (const [name, rule] of Object.entries(RULES)) {
    const value = query[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > MAX_LENGTH || !rule.test(value)) return { invalid: name };
    params[name] = value;
  }
  return { params };
}
