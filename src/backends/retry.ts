/**
 * Retries for remote backends (REST now; S3 and SFTP use the same wrapper): exponential
 * backoff with a cap for transient failures — timeouts, connection resets and refusals,
 * HTTP 5xx — and no retry for authentication failures, other 4xx answers or missing files.
 * The final error names the operation and the file.
 *
 * Every Backend operation is idempotent (a save of the same name and bytes is harmless), so
 * any of them may be repeated. A listing that fails part-way is restarted and the names that
 * were already delivered are skipped.
 */
import { NotFoundError, ResticError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';

/**
 * A failed backend request with what the wrapper needs to decide on a retry. Backends may
 * throw it directly; other errors are classified by `isTransient`.
 */
export class BackendRequestError extends ResticError {
  constructor(
    message: string,
    /** Whether trying again may succeed. */
    readonly transient: boolean,
    /** HTTP status, when there was one. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Credentials were refused (HTTP 401/403 on access): never retried. */
export class AuthenticationError extends ResticError {}

/** The final error after the retries were used up (or the failure was permanent). */
export class BackendError extends ResticError {}

export interface RetryOptions {
  /** Attempts after the first one (default 6). */
  retries?: number;
  /** First delay in ms (default 200); doubles each time. */
  baseDelayMs?: number;
  /** Delay cap in ms (default 5000). */
  maxDelayMs?: number;
  /** Called before each wait (for logs and tests). */
  onRetry?: (info: { op: string; attempt: number; delayMs: number; error: unknown }) => void;
  /** Replaces the timer (tests). */
  sleep?: (ms: number) => Promise<void>;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'SlowDown',
  'InternalError',
  'ServiceUnavailable',
]);

/** Whether an error is worth another attempt. */
function isTransient(err: unknown): boolean {
  if (err instanceof NotFoundError || err instanceof AuthenticationError) return false;
  if (err instanceof BackendRequestError) return err.transient;
  if (err instanceof ResticError) return false; // typed, user-facing: permanent
  const e = err as {
    code?: unknown;
    name?: unknown;
    statusCode?: unknown;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
  } | null;
  if (!e || typeof e !== 'object') return false;
  const status = typeof e.statusCode === 'number' ? e.statusCode : e.$metadata?.httpStatusCode;
  if (typeof status === 'number') {
    if (status >= 500 || status === 408 || status === 429) return true;
    if (status >= 400) return false;
  }
  if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.name === 'string' && TRANSIENT_CODES.has(e.name)) return true;
  if (e.cause && e.cause !== err) return isTransient(e.cause);
  return false;
}

function describe(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type} ${h.name}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What to do after a failed attempt: throw the returned error, or wait and try again. */
async function afterFailure(op: string, err: unknown, attempt: number, opts: RetryOptions): Promise<void> {
  if (!isTransient(err)) {
    // Typed errors pass through unchanged (callers test for NotFoundError etc.).
    if (err instanceof ResticError) throw err;
    throw new BackendError(`${op}: ${message(err)}`, { cause: err });
  }
  if (attempt >= (opts.retries ?? 6)) {
    throw new BackendError(`${op} failed after ${attempt + 1} attempts: ${message(err)}`, { cause: err });
  }
  // Exponential backoff with jitter so parallel requests do not retry in lockstep.
  const delay = Math.min(opts.maxDelayMs ?? 5000, (opts.baseDelayMs ?? 200) * 2 ** attempt);
  const delayMs = Math.round(delay * (0.75 + Math.random() * 0.5));
  opts.onRetry?.({ op, attempt: attempt + 1, delayMs, error: err });
  await (opts.sleep ?? defaultSleep)(delayMs);
}

/** Run `fn` with retries; `op` names the operation and file for messages. */
async function retry<T>(op: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      await afterFailure(op, err, attempt, opts);
    }
  }
}

/** Wraps any backend so each operation is retried on transient failures. */
export class RetryBackend implements Backend {
  readonly location: string;
  /** The inner store's streamed save, retried (absent when the inner store has none). */
  readonly saveFile?: (h: Handle, file: string) => Promise<void>;
  /** The inner store's load into a given buffer, retried (absent when the inner store has none). */
  readonly loadInto?: (h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array) => Promise<Uint8Array>;

  constructor(
    readonly inner: Backend,
    readonly options: RetryOptions = {},
  ) {
    this.location = inner.location;
    const saveFile = inner.saveFile?.bind(inner);
    if (saveFile) this.saveFile = (h, file) => retry(`save ${describe(h)}`, () => saveFile(h, file), this.options);
    const loadInto = inner.loadInto?.bind(inner);
    if (loadInto) {
      const op = (h: Handle, o: number, l: number) => `load ${describe(h)} (offset ${o}, length ${l})`;
      this.loadInto = (h, o, l, alloc) => retry(op(h, o, l), () => loadInto(h, o, l, alloc), this.options);
    }
  }

  create(): Promise<void> {
    return retry(`create repository at ${this.location}`, () => this.inner.create(), this.options);
  }

  save(h: Handle, data: Uint8Array): Promise<void> {
    return retry(`save ${describe(h)}`, () => this.inner.save(h, data), this.options);
  }

  load(h: Handle, offset?: number, length?: number): Promise<Uint8Array> {
    const range = offset || length ? ` (offset ${offset ?? 0}, length ${length ?? 0})` : '';
    return retry(`load ${describe(h)}${range}`, () => this.inner.load(h, offset, length), this.options);
  }

  stat(h: Handle): Promise<FileInfo> {
    return retry(`stat ${describe(h)}`, () => this.inner.stat(h), this.options);
  }

  remove(h: Handle): Promise<void> {
    return retry(`remove ${describe(h)}`, () => this.inner.remove(h), this.options);
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    const seen = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const fi of this.inner.list(type)) {
          if (seen.has(fi.name)) continue;
          seen.add(fi.name);
          yield fi;
        }
        return;
      } catch (err) {
        await afterFailure(`list ${type} files`, err, attempt, this.options);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
