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
import { AbortedError, type ErrorCode, NotFoundError, ResticError, throwIfAborted } from '../errors.js';
import type { Backend, CallOptions, FileInfo, FileType, Handle } from './backend.js';

/**
 * A failed backend request with what the wrapper needs to decide on a retry. Backends may
 * throw it directly; other errors are classified by `isTransient`.
 *
 * @example
 * ```ts
 * throw new BackendRequestError('upload failed: 503', true, 503); // transient: RetryBackend retries it
 * ```
 */
export class BackendRequestError extends ResticError {
  override readonly code: ErrorCode = 'BACKEND';
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

/**
 * Credentials were refused (HTTP 401/403 on access): never retried.
 *
 * @example
 * ```ts
 * const err = await Repository.open(backend, pw).catch((e) => e);
 * if (err instanceof AuthenticationError) console.error('check the server credentials'); // code 'AUTH'
 * ```
 */
export class AuthenticationError extends ResticError {
  override readonly code: ErrorCode = 'AUTH';
}

/**
 * The final error after the retries were used up (or the failure was permanent).
 *
 * @example
 * ```ts
 * if (err instanceof BackendError) console.error('storage failed:', err.message); // code 'BACKEND'
 * ```
 */
export class BackendError extends ResticError {
  override readonly code: ErrorCode = 'BACKEND';
}

/** How RetryBackend retries transient failures. */
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
async function afterFailure(op: string, err: unknown, attempt: number, opts: RetryOptions, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw err instanceof AbortedError ? err : new AbortedError(`${op}: cancelled`, { cause: signal.reason });
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
  throwIfAborted(signal, op);
}

/** Run `fn` with retries; `op` names the operation and file for messages. */
async function retry<T>(op: string, fn: () => Promise<T>, opts: RetryOptions = {}, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      await afterFailure(op, err, attempt, opts, signal);
    }
  }
}

/**
 * Wraps any backend so each operation is retried on transient failures.
 *
 * @example
 * ```ts
 * const backend = new RetryBackend(new LocalBackend('/mnt/nfs/repo'), { retries: 3 });
 * ```
 */
export class RetryBackend implements Backend {
  readonly location: string;

  constructor(
    readonly inner: Backend,
    readonly options: RetryOptions = {},
  ) {
    this.location = inner.location;
  }

  create(opts?: CallOptions): Promise<void> {
    return retry(`create repository at ${this.location}`, () => this.inner.create(opts), this.options, opts?.signal);
  }

  save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    return retry(`save ${describe(h)}`, () => this.inner.save(h, data, opts), this.options, opts?.signal);
  }

  load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    const range = offset || length ? ` (offset ${offset ?? 0}, length ${length ?? 0})` : '';
    return retry(`load ${describe(h)}${range}`, () => this.inner.load(h, offset, length, opts), this.options, opts?.signal);
  }

  stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    return retry(`stat ${describe(h)}`, () => this.inner.stat(h, opts), this.options, opts?.signal);
  }

  remove(h: Handle, opts?: CallOptions): Promise<void> {
    return retry(`remove ${describe(h)}`, () => this.inner.remove(h, opts), this.options, opts?.signal);
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    const seen = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const fi of this.inner.list(type, opts)) {
          if (seen.has(fi.name)) continue;
          seen.add(fi.name);
          yield fi;
        }
        return;
      } catch (err) {
        await afterFailure(`list ${type} files`, err, attempt, this.options, opts?.signal);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
