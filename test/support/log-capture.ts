import { Writable } from 'node:stream';
import { createLogger, type EventLogger } from '../../src/observability/logger.js';

/** A logger whose every line is kept in memory, parsed, for assertions on events and leaks. */
export interface LogCapture {
  log: EventLogger;
  lines: string[];
  events(): Array<Record<string, unknown> & { event: string }>;
  /** Events named `name`, in order. */
  named(name: string): Array<Record<string, unknown>>;
  text(): string;
  /** Resolves when an event called `name` is logged (at once if it already was `count` times). */
  waitFor(name: string, count?: number): Promise<void>;
}

export function captureLogs(level: Parameters<typeof createLogger>[0] = 'debug'): LogCapture {
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      for (const wake of waiters.splice(0)) wake();
      done();
    },
  });
  const log = createLogger(level, sink);
  const events = () => lines.map((l) => JSON.parse(l) as Record<string, unknown> & { event: string });
  return {
    log,
    lines,
    events,
    named: (name) => events().filter((e) => e.event === name),
    text: () => lines.join('\n'),
    async waitFor(name, count = 1) {
      while (events().filter((e) => e.event === name).length < count) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}
