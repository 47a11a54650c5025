import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/**
 * Issue 21 (GC on the hot path): what the public listener does per request must not keep
 * finished requests alive into V8's old generation. Up to 606faee it tracked responses in
 * progress in a Set (an add and a delete per request); the tables V8 leaves behind as such a set
 * churns, once a full GC has made them old, kept later requests' objects alive through the
 * young-generation collections: under load about a third of what the BFF allocated survived
 * them and a fifth was promoted, a full GC followed every second, and a call cost about a
 * quarter more CPU (bench/RESULTS.md, "The listener's Set"). Measured in a process of its own:
 * requests 50 at a time, each spanning event-loop turns like a proxied call, after a full GC;
 * the figure is what the young-generation collections promoted meanwhile (v8.GCProfiler). With
 * the Set of responses: 44–45 MB over 20 000 requests on kept-alive connections; with the Set
 * of connections (4e04837's parent): 57 MB over 30 000 requests on a connection each; with
 * neither: 0.15–0.2 MB.
 */
describe('GC pressure of the public listener (src/http/server.ts)', function () {
  this.timeout(60_000);

  const promoted = async (requests: number, connections: 'keep-alive' | 'close') => {
    const args = ['--expose-gc', '--import', 'tsx/esm', 'test/support/listener-churn.ts', String(requests), connections];
    // Without the coverage collector c8 sets up for child processes: the figure is the listener's.
    const env = { ...process.env };
    delete env['NODE_V8_COVERAGE'];
    const { stdout } = await run(process.execPath, args, { cwd: ROOT, env });
    const { promotedBytes, scavenges } = JSON.parse(stdout.trim().split('\n').pop()!) as { promotedBytes: number; scavenges: number };
    // Young-generation collections under another name (a later V8) would sum to nothing.
    assert.ok(scavenges > 0, 'no scavenge was seen while serving');
    return promotedBytes;
  };

  it('serving 20 000 requests on kept-alive connections promotes less than 5 MB to the old generation', async () => {
    const bytes = await promoted(20_000, 'keep-alive');
    assert.ok(bytes < 5_000_000, `${(bytes / 1e6).toFixed(1)} MB promoted over 20 000 requests`);
  });

  // The connections the listener tracks for a drain churn per request here.
  it('serving 30 000 requests on a connection each promotes less than 5 MB to the old generation', async () => {
    const bytes = await promoted(30_000, 'close');
    assert.ok(bytes < 5_000_000, `${(bytes / 1e6).toFixed(1)} MB promoted over 30 000 connections`);
  });
});
