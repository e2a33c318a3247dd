/**
 * Retries for remote backends (REST now; S3 and SFTP use the same wrapper): exponential
 * backoff with a cap for transient failures — timeouts, connection resets and refusals,
 * HTTP 5xx — and no retry for authentication failures, other 4xx answers or missing files.
 * The final error names the operation and the file.
 *
 * Every Backend operation is idempotent (a save of the same name and bytes is harmless), so
 * any of them may be repeated. A listing that fails part-way is restarted and the names that
 * were already delivered are skipped.
 *
 * Fail fast and once: each operation has a retry budget (attempts and total time). The first
 * operation to spend it marks the backend as down; every other operation, waiting or new,
 * then fails at once with that same error, so a command stops within seconds with one cause
 * instead of retrying each of its remaining files. Only the removal of a lock file still gets
 * one short attempt, so the command can release what it holds.
 */
import { AbortedError, type ErrorCode, NotFoundError, ResticError, markFatal, throwIfAborted } from '../errors.js';
import type { Backend, CallOptions, FileInfo, FileType, Handle, TempFileInfo } from './backend.js';

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

/** Default total time an operation may spend on retries before the backend counts as down. */
const DEFAULT_RETRY_BUDGET_MS = 45_000;
/** How long the lock-file removal after a failure may take before the command gives up on it. */
const LAST_REMOVE_MS = 3_000;

/** How RetryBackend retries transient failures. */
export interface RetryOptions {
  /** Attempts after the first one (default 6). */
  retries?: number;
  /** First delay in ms (default 200); doubles each time. */
  baseDelayMs?: number;
  /** Delay cap in ms (default 5000). */
  maxDelayMs?: number;
  /**
   * Total time in ms from an operation's first attempt after which no new attempt starts
   * (default 45 s). An attempt already running is bounded by the backend's own timeouts.
   */
  budgetMs?: number;
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

/** Shared by all operations of one backend: the error that marked it as down. */
interface Breaker {
  down?: BackendError;
}

/** What to do after a failed attempt: throw the returned error, or wait and try again. */
async function afterFailure(
  op: string,
  err: unknown,
  attempt: number,
  started: number,
  opts: RetryOptions,
  br: Breaker,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) throw err instanceof AbortedError ? err : new AbortedError(`${op}: cancelled`, { cause: signal.reason });
  if (br.down) throw br.down;
  if (!isTransient(err)) {
    // Typed errors pass through unchanged (callers test for NotFoundError etc.).
    if (err instanceof ResticError) throw err;
    throw new BackendError(`${op}: ${message(err)}`, { cause: err });
  }
  // Exponential backoff with jitter so parallel requests do not retry in lockstep.
  const delay = Math.min(opts.maxDelayMs ?? 5000, (opts.baseDelayMs ?? 200) * 2 ** attempt);
  const delayMs = Math.round(delay * (0.75 + Math.random() * 0.5));
  const elapsed = Date.now() - started;
  if (attempt >= (opts.retries ?? 6) || elapsed + delayMs > (opts.budgetMs ?? DEFAULT_RETRY_BUDGET_MS)) {
    const secs = elapsed >= 10_000 ? ` in ${Math.round(elapsed / 1000)} s` : '';
    br.down = markFatal(new BackendError(`${op} failed after ${attempt + 1} attempts${secs}: ${message(err)}`, { cause: err }));
    throw br.down;
  }
  opts.onRetry?.({ op, attempt: attempt + 1, delayMs, error: err });
  await (opts.sleep ?? defaultSleep)(delayMs);
  throwIfAborted(signal, op);
  if (br.down) throw br.down;
}

/** Run `fn` with retries; `op` names the operation and file for messages. */
async function retry<T>(op: string, fn: () => Promise<T>, opts: RetryOptions, br: Breaker, signal?: AbortSignal): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    if (br.down) throw br.down;
    try {
      return await fn();
    } catch (err) {
      await afterFailure(op, err, attempt, started, opts, br, signal);
    }
  }
}

/** One attempt, given up after `ms` (its request may go on in the background). */
function oneAttempt<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const p = fn();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
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
  private readonly breaker: Breaker = {};
  readonly listTempFiles?: () => AsyncIterable<TempFileInfo>;
  readonly removeTempFile?: (path: string) => Promise<void>;
  /** The inner store's streamed save, retried (absent when the inner store has none). */
  readonly saveFile?: (h: Handle, file: string, opts?: CallOptions) => Promise<void>;
  /** The inner store's load into a given buffer, retried (absent when the inner store has none). */
  readonly loadInto?: NonNullable<Backend['loadInto']>;

  constructor(
    readonly inner: Backend,
    readonly options: RetryOptions = {},
  ) {
    this.location = inner.location;
    // temp-file hygiene is best effort: passed through without retries
    if (inner.listTempFiles && inner.removeTempFile) {
      this.listTempFiles = () => inner.listTempFiles!();
      this.removeTempFile = (p) => inner.removeTempFile!(p);
    }
    const saveFile = inner.saveFile?.bind(inner);
    if (saveFile)
      this.saveFile = (h, file, opts) =>
        retry(`save ${describe(h)}`, () => saveFile(h, file, opts), this.options, this.breaker, opts?.signal);
    const loadInto = inner.loadInto?.bind(inner);
    if (loadInto) {
      const op = (h: Handle, o: number, l: number) => `load ${describe(h)} (offset ${o}, length ${l})`;
      this.loadInto = (h, o, l, alloc, opts) =>
        retry(op(h, o, l), () => loadInto(h, o, l, alloc, opts), this.options, this.breaker, opts?.signal);
    }
  }

  create(opts?: CallOptions): Promise<void> {
    return retry(`create repository at ${this.location}`, () => this.inner.create(opts), this.options, this.breaker, opts?.signal);
  }

  save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    return retry(`save ${describe(h)}`, () => this.inner.save(h, data, opts), this.options, this.breaker, opts?.signal);
  }

  load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    const range = offset || length ? ` (offset ${offset ?? 0}, length ${length ?? 0})` : '';
    return retry(`load ${describe(h)}${range}`, () => this.inner.load(h, offset, length, opts), this.options, this.breaker, opts?.signal);
  }

  stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    return retry(`stat ${describe(h)}`, () => this.inner.stat(h, opts), this.options, this.breaker, opts?.signal);
  }

  remove(h: Handle, opts?: CallOptions): Promise<void> {
    // Releasing a lock once the backend is down: one short attempt, the original cause kept.
    if (this.breaker.down && h.type === 'lock') return oneAttempt(() => this.inner.remove(h, opts), LAST_REMOVE_MS);
    return retry(`remove ${describe(h)}`, () => this.inner.remove(h, opts), this.options, this.breaker, opts?.signal);
  }

  /** The error that marked the backend as down (after an operation spent its retry budget). */
  get failure(): BackendError | undefined {
    return this.breaker.down;
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    const seen = new Set<string>();
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (this.breaker.down) throw this.breaker.down;
      try {
        for await (const fi of this.inner.list(type, opts)) {
          if (seen.has(fi.name)) continue;
          seen.add(fi.name);
          yield fi;
        }
        return;
      } catch (err) {
        await afterFailure(`list ${type} files`, err, attempt, started, this.options, this.breaker, opts?.signal);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
