import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's `chromium` package (CI installs it with apt-get). playwright-core never downloads a browser. */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/**
 * Without these, headless Chromium phones home (component updates, sync, QUIC probes to Google
 * hosts); on a machine without network access that means stalls and noise.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface LaunchOptions {
  /**
   * Let requests to other hosts than loopback through (default false: they are aborted and listed
   * in `blocked`, so a test never depends on, or leaks to, the internet; oidc-provider's dev login
   * page for instance @imports a Google font).
   */
  allowExternal?: boolean;
  /** Default timeout of every Playwright action and wait, in ms (default 10 000: fail fast, well under mocha's). */
  timeoutMs?: number;
}

export interface LaunchedChromium {
  /** One browser with a fresh, empty profile (no cookies, no storage, no cache). */
  context: BrowserContext;
  /** A new tab in that profile. */
  newPage(): Promise<Page>;
  /** URLs of requests aborted because they left loopback. */
  blocked: string[];
  /** The temporary user-data dir; removed by close(). */
  profileDir: string;
  /** Closes the browser and deletes its profile directory; safe to call twice. */
  close(): Promise<void>;
}

/** Starts headless Chromium on a brand-new temporary profile. */
export async function launchChromium(options: LaunchOptions = {}): Promise<LaunchedChromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  const profileDir = mkdtempSync(join(tmpdir(), 'oidc-bff-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
  } catch (err) {
    rmSync(profileDir, { recursive: true, force: true });
    throw err;
  }
  context.setDefaultTimeout(options.timeoutMs ?? 10_000);

  const blocked: string[] = [];
  if (!options.allowExternal) {
    await context.route(
      (url) => !(url.protocol === 'http:' || url.protocol === 'https:') || !LOOPBACK_HOSTS.has(url.hostname),
      async (route) => {
        const url = route.request().url();
        if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return route.continue();
        blocked.push(url);
        return route.abort('blockedbyclient');
      },
    );
  }

  let closed = false;
  return {
    context,
    newPage: () => context.newPage(),
    blocked,
    profileDir,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await context.close();
      } finally {
        rmSync(profileDir, { recursive: true, force: true });
      }
    },
  };
}
