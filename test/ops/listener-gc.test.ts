import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/**
 * Issue 21 (GC on the hot path): what the public listener does per request must not keep
 * finished requests alive into V8's old generation. Up to this change it tracked responses in
 * progress in a Set (an add and a delete per request); the tables V8 leaves behind as such a set
 * churns, once a full GC has made them old, kept every later request's objects alive through
 * the young-generation collections: under load a third of what a request allocated was copied
 * and promoted, full GCs followed every second, and the BFF's CPU per call rose by a quarter
 * (bench/RESULTS.md). Measured in a process of its own: requests 50 at a time, each spanning
 * event-loop turns like a proxied call, right after a full GC. With the Set the old generation
 * grew by 21–35 MB over 20 000 requests on kept-alive connections; without, 0.5–2.6 MB.
 */
describe('GC pressure of the public listener (src/http/server.ts)', function () {
  this.timeout(60_000);

  const oldGenerationGrowth = async (requests: number, connections: 'keep-alive' | 'close') => {
    const args = ['--expose-gc', '--import', 'tsx/esm', 'test/support/listener-churn.ts', String(requests), connections];
    const { stdout } = await run(process.execPath, args, { cwd: ROOT });
    return (JSON.parse(stdout.trim().split('\n').pop()!) as { grewBytes: number }).grewBytes;
  };

  it('serving 20 000 requests on kept-alive connections after a full GC grows the old generation by less than 5 MB', async () => {
    const grew = await oldGenerationGrowth(20_000, 'keep-alive');
    assert.ok(grew < 5_000_000, `old generation grew by ${(grew / 1e6).toFixed(1)} MB over 20 000 requests`);
  });

  // The connections the listener tracks for a drain churn per request here: in a Set they did
  // what the responses did (10.4–10.5 MB over 30 000 connections; 1.6–2.0 MB in open-connections.ts).
  it('serving 30 000 requests on a connection each after a full GC grows the old generation by less than 5 MB', async () => {
    const grew = await oldGenerationGrowth(30_000, 'close');
    assert.ok(grew < 5_000_000, `old generation grew by ${(grew / 1e6).toFixed(1)} MB over 30 000 connections`);
  });
});
