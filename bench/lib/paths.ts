import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ and the project root, wherever the project is checked out. */
export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const ROOT_DIR = join(BENCH_DIR, '..');
