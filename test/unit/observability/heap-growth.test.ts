import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../../../src/config/load.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const MB = 2 ** 20;

// A process with ~25 MB of live data that keeps promoting short-lived garbage into the old
// generation (a ring of objects that outlive two scavenges, then die): the shape of a BFF under
// load. Prints the largest old space seen, after HEAP_GROWTH_PERCENT (through loadConfig, as
// src/main.ts does) is applied.
const CHURN = `
  import { getHeapSpaceStatistics } from 'node:v8';
  const { loadConfig } = await import(${JSON.stringify(new URL('src/config/load.ts', `file://${ROOT}`).href)});
  const { applyHeapGrowth } = await import(${JSON.stringify(new URL('src/observability/heap-growth.ts', `file://${ROOT}`).href)});
  const env = { PUBLIC_URL: 'http://127.0.0.1:3000', OIDC_ISSUER: 'http://127.0.0.1:9', OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's', OIDC_ALLOW_HTTP: 'true', API_UPSTREAM: 'http://127.0.0.1:9', ...JSON.parse(process.argv[1]) };
  applyHeapGrowth(loadConfig(env, () => 'x'.repeat(43)).memory.heapGrowthPercent);
  const live = [];
  for (let i = 0; i < 200_000; i++) live.push({ i, s: 'x'.repeat(50) + i });
  const ring = new Array(50_000);
  let max = 0;
  for (let round = 0; round < 600; round++) {
    for (let j = 0; j < 1000; j++) ring[(round * 1000 + j) % ring.length] = { a: round, b: 'y'.repeat(30) + j, c: [j, j] };
    max = Math.max(max, getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_size);
    await new Promise((resolve) => setImmediate(resolve));
  }
  console.log(JSON.stringify({ max, live: live.length, ring: ring.length }));
`;

async function oldSpaceMax(env: Record<string, string>): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHURN, JSON.stringify(env)], { cwd: ROOT });
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { max: number }).max;
}

/**
 * Issue 21 (memory): V8's own heap policy lets the old generation grow up to 4× what the last
 * full collection kept on a machine with much memory; under load the BFF held ~120 MB of old
 * space for ~35 MB of live data (bench/RESULTS.md, "Memory: where it goes"). HEAP_GROWTH_PERCENT
 * bounds that growth for the life of the process (off by default: it costs CPU, see docs/operations.md).
 */
describe('HEAP_GROWTH_PERCENT: the old generation stays near the live data', function () {
  this.timeout(60_000);

  it('defaults to 0 (V8’s own policy) and accepts a percentage', () => {
    const env = {
      PUBLIC_URL: 'http://127.0.0.1:3000',
      OIDC_ISSUER: 'http://127.0.0.1:9',
      OIDC_CLIENT_ID: 'c',
      OIDC_CLIENT_SECRET: 's',
      OIDC_ALLOW_HTTP: 'true',
      API_UPSTREAM: 'http://127.0.0.1:9',
    };
    assert.equal(loadConfig(env, () => 'x'.repeat(43)).memory.heapGrowthPercent, 0);
    assert.equal(loadConfig({ ...env, HEAP_GROWTH_PERCENT: '20' }, () => 'x'.repeat(43)).memory.heapGrowthPercent, 20);
  });

  it("with HEAP_GROWTH_PERCENT=20, a process churning garbage through the old generation keeps it well below what V8's own policy (0, the default) lets it reach", async () => {
    const bounded = await oldSpaceMax({ HEAP_GROWTH_PERCENT: '20' });
    const unbounded = await oldSpaceMax({});
    const figures = `HEAP_GROWTH_PERCENT=20: ${(bounded / MB).toFixed(1)} MB, V8's own policy: ${(unbounded / MB).toFixed(1)} MB`;
    // Relative, not absolute: a busy machine slows the concurrent marking and lets the mutator
    // overshoot either limit (seen on an idle machine: 118–131 MB bounded, 201–220 MB unbounded;
    // with the setting made a no-op the two are the same process).
    assert.ok(bounded < unbounded * 0.8, figures);
  });
});
