import { createRequire } from 'node:module';
import type { parse as YamlParse } from 'yaml';

/**
 * The YAML parser, loaded on the first YAML file (API_ROUTES, BFF_CONFIG) only: most deployments
 * have none, and the module costs every process that loads it about 1 MB of V8 heap and several
 * MB of RSS that it never gives back (issue 21: load only what the process uses).
 */
export function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as { parse: typeof YamlParse };
  return parse(text);
}
