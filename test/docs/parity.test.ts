import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SETTINGS } from '../../src/config/schema.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { LOG_EVENTS } from '../../src/observability/log-events.js';
import { renderEnvExample } from '../../scripts/env-example.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = (title: string) => {
  const start = readme.indexOf(`## ${title}`);
  assert.ok(start >= 0, `README has no "## ${title}" section`);
  const end = readme.indexOf('\n## ', start + 3);
  return readme.slice(start, end === -1 ? undefined : end);
};
const tableNames = (text: string) => [...text.matchAll(/^\| `([A-Za-z0-9_.]+)` \|/gm)].map((m) => m[1]);

describe('documentation matches the code', () => {
  it('.env.example is generated from the schema (npm run env-example)', () => {
    assert.equal(readFileSync(new URL('../../.env.example', import.meta.url), 'utf8'), renderEnvExample());
  });

  it("the README's configuration table lists exactly the schema's variables, in order", () => {
    assert.deepEqual(tableNames(section('Configuration')), SETTINGS.map((s) => s.name));
  });

  it("the README's configuration table shows each variable's default", () => {
    const rows = section('Configuration');
    for (const s of SETTINGS) {
      if (!s.default) continue;
      assert.ok(rows.includes(`| \`${s.name}\` | \`${s.default}\` |`), `${s.name} default ${s.default} not in README table`);
    }
  });

  it('the README lists every error code', () => {
    assert.deepEqual(tableNames(section('Errors')).sort(), Object.keys(ERROR_CODES).sort());
  });

  it('the README lists every log event', () => {
    assert.deepEqual(tableNames(section('Logs')).sort(), Object.keys(LOG_EVENTS).sort());
  });
});
