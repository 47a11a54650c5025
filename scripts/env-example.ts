/**
 * Writes .env.example from the settings rows (the single source of truth), or with
 * --check exits non-zero when the file on disk differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { SETTINGS } from '../src/config/settings.js';

export function renderEnvExample(): string {
  const lines = [
    '# oidc-bff configuration. Every variable with its default; generated from src/config/settings.ts',
    '# by `npm run env-example`. Variables without a value have no default.',
    '',
  ];
  for (const s of SETTINGS) lines.push(`# ${s.doc}`, `${s.name}=${s.default}`, '');
  return lines.join('\n');
}

const target = new URL('../.env.example', import.meta.url);
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== renderEnvExample()) {
      process.stderr.write('.env.example is out of date: run npm run env-example\n');
      process.exit(1);
    }
  } else {
    writeFileSync(target, renderEnvExample());
  }
}
