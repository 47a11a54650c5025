import type { CookieIo } from '../../src/web/cookie-io.js';

/**
 * A browser's cookie jar reduced to what Sessions see: each request gets a CookieIo whose
 * header is the jar's cookies and whose Set-Cookie lines go back into the jar.
 */
export class JarIo {
  readonly cookies = new Map<string, string>();
  readonly written: string[] = [];

  io(): CookieIo {
    return {
      header: this.header(),
      set: (line) => {
        this.written.push(line);
        const [pair = ''] = line.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq);
        if (/Max-Age=0\b/.test(line)) this.cookies.delete(name);
        else this.cookies.set(name, pair.slice(eq + 1));
      },
    };
  }

  header(): string | undefined {
    return this.cookies.size ? [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ') : undefined;
  }
}
