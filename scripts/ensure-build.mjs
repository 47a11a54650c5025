// `npm start` runs the compiled service; build first when dist/ is missing or older than src/.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const p = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);

const entry = 'dist/src/main.js';
if (!existsSync(entry) || statSync(entry).mtimeMs < newest('src')) {
  execSync('npm run build', { stdio: 'inherit' });
}
