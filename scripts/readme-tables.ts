// Regenerates the README tables (configuration, error codes, log events) from the code that defines them;
// test/docs/parity.test.ts fails until this (and `npm run env-example`) has been run after a change.
import { readFileSync, writeFileSync } from 'node:fs';
import { SETTINGS } from '../src/config/schema.js';
import { ERROR_CODES } from '../src/errors/codes.js';
import { LOG_EVENTS } from '../src/observability/log-events.js';
const p = new URL('../README.md', import.meta.url);
let s = readFileSync(p, 'utf8');
const replaceTable = (header: string, rows: string[]) => {
  const start = s.indexOf(header);
  if (start < 0) throw new Error(header);
  const sep = s.indexOf('\n', s.indexOf('\n', start) + 1); // end of |---| line
  let end = sep + 1;
  while (s.startsWith('|', end)) end = s.indexOf('\n', end) + 1;
  s = s.slice(0, sep + 1) + rows.map((r) => r + '\n').join('') + s.slice(end);
};
replaceTable('| variable | default | meaning |', SETTINGS.map((x) => `| \`${x.name}\` | ${x.default ? `\`${x.default}\`` : '—'} | ${x.doc} |`));
replaceTable('| code | status | meaning |', Object.entries(ERROR_CODES).map(([c, v]) => `| \`${c}\` | ${v.status} | ${v.description} |`));
replaceTable('| event | level |', Object.entries(LOG_EVENTS).map(([e, l]) => `| \`${e}\` | ${l} |`));
writeFileSync(p, s);
// Rows the README enriches beyond the schema's one-liner.
s = s.replace("e.g. /auth, also below it (Envoy's path_prefix); empty = off. |", "e.g. /auth, also below it (Envoy's path_prefix); empty = off. See [Gateway integration](#gateway-integration-forward-auth). |");
writeFileSync(p, s);
