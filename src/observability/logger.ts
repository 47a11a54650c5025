import { pino, type DestinationStream } from 'pino';
import type { LogLevel } from '../config/load.js';
import { LOG_EVENTS, type LogEvent, type LogFields } from './log-events.js';

/** Structured logger that only speaks in catalogue events. */
export interface EventLogger {
  event(name: LogEvent, fields?: LogFields): void;
  /** True when lines of this event's level are written; lets hot paths skip building fields. */
  enabled(name: LogEvent): boolean;
  /** Resolves once every line written so far has reached the destination (before process.exit). */
  flush(): Promise<void>;
}

// Defence in depth: field names that could only ever hold a credential are censored even if a
// future change passes them by mistake.
const REDACT = [
  'access_token',
  'refresh_token',
  'id_token',
  'code_verifier',
  'client_secret',
  'cookie',
  'authorization',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.cookie',
  '*.authorization',
  'dpop',
  '*.dpop',
  'dpopKey',
  '*.dpopKey',
  'accessToken',
  'refreshToken',
  '*.accessToken',
  '*.refreshToken',
];

export function createLogger(level: LogLevel, destination?: DestinationStream): EventLogger {
  const stream = destination ?? pino.destination({ sync: false });
  const base = pino(
    {
      level,
      base: { service: 'oidc-bff' },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  return {
    event(name, fields) {
      base[LOG_EVENTS[name]]({ event: name, ...fields });
    },
    enabled(name) {
      return base.isLevelEnabled(LOG_EVENTS[name]);
    },
    flush() {
      // pino's flush returns at once while an asynchronous destination (SonicBoom) still has a
      // write with the OS — a full pipe to a slow log shipper. The lines written synchronously at
      // exit would then land before that write's: wait for the destination to drain instead.
      return new Promise<void>((resolve) => {
        const boom = stream as DestinationStream & Partial<{ _writing: boolean; once(event: 'drain' | 'error', listener: () => void): unknown }>;
        if (boom._writing === true && boom.once) {
          boom.once('drain', resolve);
          boom.once('error', resolve);
        } else base.flush(() => resolve());
      });
    },
  };
}

/** Error summary for a log line: message and type always, the stack only for unexpected faults. */
export function errorFields(e: unknown, withStack: boolean): NonNullable<LogFields['err']> {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    message: oneLine(err.message),
    ...(typeof code === 'string' ? { code } : {}),
    ...(withStack && err.stack ? { stack: err.stack } : {}),
  };
}

/** User-controlled text in a log field: bounded and on one line. */
export function oneLine(s: string, max = 300): string {
  const flat = s.replace(/[\r\n\u2028\u2029]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
