// The demo SPA of `npm run dev`: one static page at `/`, mounted through createApp's `extra` step.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Step } from '../src/web/context.js';

const PAGE = new URL('./demo-page.html', import.meta.url);

/** CSP source for one inline element: the hash of its exact text, as browsers compute it. */
function inlineHash(html: string, tag: 'script' | 'style'): string {
  const blocks = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  if (blocks.length !== 1) throw new Error(`${PAGE.pathname} must hold exactly one attribute-less <${tag}> element, found ${blocks.length}`);
  return `'sha256-${createHash('sha256').update(blocks[0]![1]!, 'utf8').digest('base64')}'`;
}

/**
 * GET (and HEAD) `/` answers the demo page; everything else passes on. The page is read once,
 * and its only inline script and style are allowed by hash, so the CSP permits nothing else:
 * no other script, no external resource, no framing, and fetch to this origin only.
 */
export function demoPage(): Step {
  const html = readFileSync(PAGE, 'utf8');
  const csp = [
    "default-src 'none'",
    `script-src ${inlineHash(html, 'script')}`,
    `style-src ${inlineHash(html, 'style')}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');

  return async (ctx, next) => {
    if (ctx.path !== '/' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('Content-Security-Policy', csp);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'html';
    ctx.body = html;
  };
}
