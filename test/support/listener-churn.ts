// Run by test/ops/listener-gc.test.ts in a process of its own (node --expose-gc): the public
// listener serves requests that each span a few event-loop turns, 50 at a time, after a full GC;
// prints how much its young-generation collections promoted meanwhile. Arguments: the number of requests, and
// `keep-alive` (50 connections that each carry many requests) or `close` (a connection each).
import http from 'node:http';
import { setImmediate as turn } from 'node:timers/promises';
import v8 from 'node:v8';
import Koa from 'koa';
import { listen } from '../../src/http/server.js';

const CONNECTIONS = 50;
const app = new Koa();
app.use(async (ctx) => {
  await turn(); // as a proxied call waits for its upstream
  await turn();
  ctx.body = 'ok';
});
const listening = await listen(app, '127.0.0.1', 0);
const agent = new http.Agent({ keepAlive: process.argv[3] !== 'close', maxSockets: CONNECTIONS });

const one = () =>
  new Promise<void>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: listening.port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
const serve = async (requests: number) => {
  let left = requests;
  const loop = async () => {
    while (left-- > 0) await one();
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
};

await serve(2_000); // connections open, code optimised
(globalThis as unknown as { gc: () => void }).gc(); // what the listener holds is old from here on
// What each young-generation collection moved to the old generation, summed: a full GC in the
// window does not hide it, as it would a before-and-after reading of the old generation.
interface SpaceStats {
  spaceName: string;
  spaceUsedSize: number;
}
interface GcStats {
  gcType: string;
  beforeGC: { heapSpaceStatistics: SpaceStats[] };
  afterGC: { heapSpaceStatistics: SpaceStats[] };
}
const oldUsed = (at: { heapSpaceStatistics: SpaceStats[] }) => at.heapSpaceStatistics.find((s) => s.spaceName === 'old_space')!.spaceUsedSize;
const profiler = new v8.GCProfiler();
profiler.start();
await serve(Number(process.argv[2] ?? 20_000));
const { statistics } = profiler.stop() as unknown as { statistics: GcStats[] };
const scavenges = statistics.filter((gc) => gc.gcType === 'Scavenge');
const promotedBytes = scavenges.reduce((sum, gc) => sum + Math.max(0, oldUsed(gc.afterGC) - oldUsed(gc.beforeGC)), 0);
agent.destroy();
await listening.drain(1_000);
process.stdout.write(`${JSON.stringify({ promotedBytes, scavenges: scavenges.length })}\n`);
