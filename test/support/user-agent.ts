// A tiny scripted browser: a cookie jar per host over fetch, redirects followed only on request.

export interface UaResponse {
  status: number;
  headers: Headers;
  url: string;
  text: string;
  json<T = unknown>(): T;
  setCookies: string[];
}

export interface FollowOptions {
  /** Checked before each redirect hop; when true the redirect response is returned unrequested. */
  stopAt?: (url: URL) => boolean;
  maxHops?: number;
}

export interface LoginOptions {
  username?: string;
  password?: string;
  /** Origin of the BFF whose /callback ends the login; defaults to the login URL's origin. */
  stopAtOrigin?: string;
}

const isRedirect = (status: number) => status >= 300 && status < 400;

export class UserAgent {
  readonly #jar = new Map<string, Map<string, string>>();
  /** Every raw Set-Cookie header seen, in order. */
  readonly setCookies: string[] = [];
  /** An undici dispatcher for every request: one that trusts a test's private CA, for an https IdP. */
  readonly #dispatcher: unknown;

  constructor(options: { dispatcher?: unknown } = {}) {
    this.#dispatcher = options.dispatcher;
  }

  async request(method: string, url: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<UaResponse> {
    const { host } = new URL(url);
    const cookie = this.cookieHeader(host);
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    } as RequestInit);
    const setCookies = res.headers.getSetCookie();
    for (const header of setCookies) this.#store(host, header);
    this.setCookies.push(...setCookies);
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      url,
      text,
      json: <T>() => JSON.parse(text) as T,
      setCookies,
    };
  }

  get(url: string, init?: { headers?: Record<string, string> }): Promise<UaResponse> {
    return this.request('GET', url, init);
  }

  post(url: string, init?: { headers?: Record<string, string>; body?: string }): Promise<UaResponse> {
    return this.request('POST', url, init);
  }

  /** GETs url and follows redirects; chain lists every URL requested, in order. */
  async follow(url: string, opts: FollowOptions = {}): Promise<{ response: UaResponse; chain: string[] }> {
    const chain = [url];
    return this.#chase(await this.get(url), chain, opts);
  }

  async #chase(response: UaResponse, chain: string[], { stopAt, maxHops = 20 }: FollowOptions) {
    for (let hops = 0; isRedirect(response.status); hops++) {
      if (hops >= maxHops) throw new Error(`too many redirects: ${chain.join(' -> ')}`);
      const location = response.headers.get('location');
      if (!location) throw new Error(`${response.status} without Location from ${response.url}`);
      const next = new URL(location, response.url);
      if (stopAt?.(next)) break;
      chain.push(next.href);
      response = await this.get(next.href);
    }
    return { response, chain };
  }

  /**
   * Runs a login from the BFF's /login through the IdP, filling oidc-provider's dev login and consent
   * forms when shown, and returns the response of the BFF's /callback request (not followed).
   */
  async login(loginUrl: string, opts: LoginOptions = {}): Promise<{ callback: UaResponse; chain: string[] }> {
    const origin = opts.stopAtOrigin ?? new URL(loginUrl).origin;
    // A frontend of several providers (BFF_CONFIG) has a callback per provider: /callback/<provider>.
    const isCallback = (u: URL) => u.origin === origin && /\/callback(?:\/[\w-]+)?$/.test(u.pathname);
    const chain = [loginUrl];
    let { response } = await this.#chase(await this.get(loginUrl), chain, { stopAt: isCallback });

    for (let forms = 0; forms < 5; forms++) {
      if (isRedirect(response.status)) {
        const callbackUrl = new URL(response.headers.get('location') ?? '', response.url).href;
        chain.push(callbackUrl);
        return { callback: await this.get(callbackUrl), chain };
      }
      const prompt = /name="prompt" value="(\w+)"/.exec(response.text)?.[1];
      if (response.status !== 200 || (prompt !== 'login' && prompt !== 'consent')) break;
      const fields =
        prompt === 'login'
          ? {
              login: opts.username ?? (formFields(response.text)['login'] || 'alice'),
              password: opts.password ?? 'secret',
            }
          : {};
      const posted = await this.submitForm(response, fields);
      chain.push(posted.url);
      ({ response } = await this.#chase(posted, chain, { stopAt: isCallback }));
    }
    throw new Error(`login did not reach ${origin}/…/callback; stopped at ${response.status} ${response.url}`);
  }

  /** POSTs the page's first form (its inputs plus `fields`), as a browser would on submit. */
  submitForm(page: UaResponse, fields: Record<string, string> = {}): Promise<UaResponse> {
    const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(page.text);
    if (!form) throw new Error(`no form with an action in ${page.url}`);
    const [, action = '', inner = ''] = form;
    const body = new URLSearchParams({ ...formFields(inner), ...fields });
    return this.post(new URL(unescapeHtml(action), page.url).href, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
  }

  cookie(host: string, name: string): string | undefined {
    return this.#jar.get(host)?.get(name);
  }

  setCookie(host: string, name: string, value: string): void {
    const cookies = this.#jar.get(host) ?? new Map<string, string>();
    this.#jar.set(host, cookies.set(name, value));
  }

  deleteCookie(host: string, name: string): void {
    this.#jar.get(host)?.delete(name);
  }

  cookieHeader(host: string): string {
    return [...(this.#jar.get(host) ?? [])].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  // Path, Domain, SameSite and Secure are ignored on purpose: tests run on http and one host per server.
  #store(host: string, header: string): void {
    const [pair = '', ...attributes] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) return;
    const name = pair.slice(0, eq).trim();
    let expired = false;
    for (const attribute of attributes) {
      const [key = '', value = ''] = attribute.split('=', 2).map((part) => part.trim());
      if (key.toLowerCase() === 'max-age') expired = Number(value) <= 0;
      if (key.toLowerCase() === 'expires' && !attributes.some((a) => /^\s*max-age=/i.test(a))) {
        expired = Date.parse(value) <= Date.now();
      }
    }
    if (expired) this.deleteCookie(host, name);
    else this.setCookie(host, name, pair.slice(eq + 1).trim());
  }
}

/** name → value of every <input> that has a name (last one wins). */
function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [input] of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input)?.[1];
    if (name) fields[unescapeHtml(name)] = unescapeHtml(/\bvalue="([^"]*)"/i.exec(input)?.[1] ?? '');
  }
  return fields;
}

function unescapeHtml(s: string): string {
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" };
  return s.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (match, entity: string) => entities[entity] ?? match);
}
