// Helpers for the bench's child processes: tell the parent we are ready, answer its queries over
// the IPC channel, and never outlive it.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

export type Handlers = Record<string, (arg: unknown) => unknown>;

interface Query {
  type: 'query';
  id: number;
  name: string;
  arg?: unknown;
}

/** Reports readiness (and e.g. the port) to the bench driver. */
export function ready(info: Record<string, unknown>): void {
  process.send?.({ type: 'ready', ...info });
}

/**
 * Answers the driver's queries (`counts`, `stats`, …, and always `memory`, `heapSpaces` and
 * `heapSnapshot`) over IPC. A heap snapshot runs a full GC first and stops the process for
 * seconds: the driver asks for one only between sections, with BENCH_HEAP_SNAPSHOTS=1.
 */
export function answer(own: Handlers = {}): void {
  const handlers: Handlers = {
    memory: () => process.memoryUsage(),
    heapSpaces: () =>
      Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size }])),
    heapSnapshot: (path) => writeHeapSnapshot(String(path)),
    // Sampling heap profiler that also keeps what GC collected: which code allocates the garbage
    // that outlives the young generation (collected by a major GC), and what dies young.
    // `old`: only what outlived the young generation (live, or collected by a major GC).
    allocationsStart: (which) =>
      inspect('HeapProfiler.startSampling', {
        samplingInterval: 32768,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: which !== 'old',
      }),
    allocationsStop: async (path) => {
      const { profile } = (await inspect('HeapProfiler.stopSampling')) as { profile: unknown };
      writeFileSync(String(path), JSON.stringify(profile));
      return String(path);
    },
    ...own,
  };
  process.on('message', (m: unknown) => {
    const q = m as Partial<Query>;
    if (q?.type !== 'query' || typeof q.id !== 'number' || typeof q.name !== 'string') return;
    const handler = handlers[q.name];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no handler for ${q.name}`);
        return handler(q.arg);
      })
      .then(
        (result) => process.send?.({ type: 'reply', id: q.id, result }),
        (err: unknown) => process.send?.({ type: 'reply', id: q.id, error: String((err as Error)?.message ?? err) }),
      );
  });
}

/**
 * Runs `stop` once on SIGTERM/SIGINT or when the driver goes away (IPC disconnect), then exits 0:
 * a normal exit, so that `--cpu-prof` gets to write its profile.
 */
export function exitWith(stop: () => Promise<void> | void): void {
  let stopping = false;
  const run = (why: string) => {
    if (stopping) return;
    stopping = true;
    // In the server's log: a server that left mid-run says why.
    process.stderr.write(`stopping on ${why}\n`);
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    Promise.resolve()
      .then(stop)
      .catch((err: unknown) => process.stderr.write(`stop after ${why} failed: ${String(err)}\n`))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => run('SIGTERM'));
  process.on('SIGINT', () => run('SIGINT'));
  process.on('disconnect', () => run('disconnect'));
}

export function requiredEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`${name} is required\n`);
    process.exit(2);
  }
  return v;
}

let inspector: Session | undefined;
function inspect(method: string, params?: object): Promise<unknown> {
  if (!inspector) {
    inspector = new Session();
    inspector.connect();
  }
  const session = inspector;
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
}
