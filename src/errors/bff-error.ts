import { ERROR_CODES, type ErrorCode } from './codes.js';
import type { LogEvent } from '../observability/log-events.js';

export interface BffErrorOptions {
  /** Operator-facing reason, logged, never sent to the client. */
  detail?: string;
  /** Public description overriding the catalogue text (still safe to show). */
  description?: string;
  cause?: unknown;
  /** Named log event for this rejection (see observability/log-events.ts). */
  event?: LogEvent;
}

/**
 * The one error type handlers throw. `description` is what the client sees; `detail` and
 * `cause` are for the log only. Responses are produced in http/error-handler.ts alone.
 */
export class BffError extends Error {
  readonly status: number;
  readonly description: string;
  readonly detail: string | undefined;
  readonly event: LogEvent | undefined;
  /** Client errors explain themselves; server errors show a generic text (the catalogue's). */
  readonly expose: boolean;

  constructor(
    readonly code: ErrorCode,
    options: BffErrorOptions = {},
  ) {
    super(options.detail ?? code, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BffError';
    this.status = ERROR_CODES[code].status;
    this.description = options.description ?? ERROR_CODES[code].description;
    this.detail = options.detail;
    this.event = options.event;
    this.expose = this.status < 500;
  }
}

export const isBffError = (e: unknown): e is BffError => e instanceof BffError;
