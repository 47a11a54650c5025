import assert from 'node:assert/strict';
import { summarizeAllocations, type SamplingNode } from '../../../bench/lib/allocations.js';

const node = (functionName: string, url: string, selfSize: number, children: SamplingNode[] = []): SamplingNode => ({
  callFrame: { functionName, url, lineNumber: 9 },
  selfSize,
  children,
});

// (root) → forward (ours) → ClientRequest (node core) → addRequest (node core);
//        → writeGeneric (node core, no caller of ours); → open (ours)
const profile = node('(root)', '', 0, [
  node('forward', 'file:///x/build/src/proxy/forward.js', 100, [
    node('ClientRequest', 'node:_http_client', 300, [node('addRequest', 'node:_http_agent', 200)]),
  ]),
  node('writeGeneric', 'node:internal/stream_base_commons', 50),
  node('open', 'file:///x/build/src/session/server-sessions.js', 350),
]);

describe('bench: allocations per request, charged to the code that asked for them', () => {
  it('divides every sampled byte, garbage included, by the requests served', () => {
    assert.equal(summarizeAllocations(profile, 10).bytesPerRequest, 100);
  });

  it('charges what Node core allocates to the first frame of ours up the stack', () => {
    const { top } = summarizeAllocations(profile, 10);
    assert.deepEqual(
      top.map((t) => [t.site, t.bytesPerRequest]),
      [
        ['forward src/proxy/forward.js:10', 60],
        ['open src/session/server-sessions.js:10', 35],
        ['writeGeneric node:internal/stream_base_commons:10 (Node core only)', 5],
      ],
    );
    assert.equal(top[0]!.share, 0.6);
  });

  it('charges to the nearest frame of ours, not the outermost, when our code runs under Node core', () => {
    // (root) → listener (ours) → emit (core) → forward (ours) → ClientRequest (core); a package's frame is ours too.
    const nested = node('(root)', '', 0, [
      node('listener', 'file:///x/build/src/http/server.js', 10, [
        node('emit', 'node:events', 20, [
          node('forward', 'file:///x/build/src/proxy/forward.js', 30, [
            node('ClientRequest', 'node:_http_client', 40),
            node('dispatch', 'file:///x/node_modules/koa-compose/index.js', 0, [node('Map', '', 50)]),
          ]),
        ]),
      ]),
    ]);
    assert.deepEqual(
      summarizeAllocations(nested, 1).top.map((t) => [t.site, t.bytesPerRequest]),
      [
        ['forward src/proxy/forward.js:10', 70],
        ['dispatch koa-compose/index.js:10', 50],
        ['listener src/http/server.js:10', 30],
      ],
    );
  });

  it('keeps only the largest sites', () => {
    assert.deepEqual(
      summarizeAllocations(profile, 1, 1).top.map((t) => t.site),
      ['forward src/proxy/forward.js:10'],
    );
  });
});
