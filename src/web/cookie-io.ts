import type { BffContext } from './context.js';

/** The request's Cookie header and a way to add Set-Cookie headers to its response. */
export interface CookieIo {
  readonly header: string | undefined;
  set(setCookie: string): void;
}

export function cookieIo(ctx: BffContext): CookieIo {
  return {
    header: ctx.req.headers.cookie,
    set: (setCookie) => ctx.append('Set-Cookie', setCookie),
  };
}
