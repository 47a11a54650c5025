import type { CustomFetch } from 'openid-client';

type Rule = (url: string, init: Parameters<CustomFetch>[1]) => Promise<Response> | undefined;

/**
 * Fault injection for the BFF's calls to the IdP, through openid-client's own customFetch
 * seam: the IdP stays real, a rule can replace or rewrite one kind of call.
 */
export interface IdpFaults {
  fetch: CustomFetch;
  /** Applies `rule` to every IdP call until cleared. */
  set(rule: Rule): void;
  clear(): void;
}

export function idpFaults(): IdpFaults {
  let rule: Rule | undefined;
  return {
    fetch: (url, init) => rule?.(url, init) ?? fetch(url, init as RequestInit),
    set(r) {
      rule = r;
    },
    clear() {
      rule = undefined;
    },
  };
}

const isToken = (url: string) => new URL(url).pathname.endsWith('/token');
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** The token endpoint answers `status` with `body` (a string is sent as is). */
export const tokenEndpointAnswers =
  (status: number, body: unknown, contentType = 'application/json'): Rule =>
  (url) =>
    isToken(url)
      ? Promise.resolve(new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': contentType } }))
      : undefined;

/** The token endpoint cannot be reached (connection refused). */
export const tokenEndpointDown: Rule = (url) =>
  isToken(url)
    ? Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }))
    : undefined;

/** The real token response, passed through `edit` before the BFF sees it. */
export const tokenResponseEdited =
  (edit: (body: Record<string, unknown>) => Record<string, unknown>): Rule =>
  (url, init) => {
    if (!isToken(url)) return undefined;
    return fetch(url, init as RequestInit).then(async (res) => json(res.status, edit((await res.json()) as Record<string, unknown>)));
  };
