import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';

export interface RoutesFile {
  /** For API_ROUTES. */
  path: string;
  remove(): void;
}

/** An API_ROUTES file (JSON, or YAML as operators often write it) in a fresh temporary folder. */
export function routesFile(routes: object[], format: 'json' | 'yaml' = 'json'): RoutesFile {
  const dir = mkdtempSync(join(tmpdir(), 'bff-routes-'));
  const path = join(dir, `routes.${format}`);
  writeFileSync(path, format === 'yaml' ? toYaml({ routes }) : JSON.stringify({ routes }));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
