/**
 * Typed errors. Every error a user can cause carries restic's exit code (0.17+ numbering)
 * and a stable string `code`, so the CLI and library callers treat failures the same way
 * without matching messages or classes.
 */

/**
 * restic's exit codes (0.17+ numbering), as ResticError.exitCode carries them.
 *
 * @example
 * ```ts
 * process.exitCode = err instanceof ResticError ? err.exitCode : ExitCode.Fatal;
 * ```
 */
export const ExitCode = {
  OK: 0,
  Fatal: 1,
  Incomplete: 3,
  RepositoryNotFound: 10,
  LockFailed: 11,
  WrongPassword: 12,
  Interrupted: 130,
} as const;

/**
 * The stable `code` of every error the library throws. New codes may be added; existing ones
 * keep their meaning.
 */
export type ErrorCode =
  | 'FATAL'
  | 'USAGE'
  | 'NO_REPOSITORY'
  | 'WRONG_PASSWORD'
  | 'LOCKED'
  | 'INTEGRITY'
  | 'KEY_PARAMS'
  | 'NOT_FOUND'
  | 'FORMAT'
  | 'ABORTED'
  | 'BACKEND'
  | 'AUTH'
  | 'HOST_KEY';

/**
 * Base class of every error restic-ts throws on purpose.
 *
 * @example
 * ```ts
 * try {
 *   await Repository.open(backend, { password });
 * } catch (err) {
 *   if (err instanceof ResticError && err.code === 'WRONG_PASSWORD') console.error('wrong password');
 *   else throw err;
 * }
 * ```
 */
export class ResticError extends Error {
  readonly exitCode: number = ExitCode.Fatal;
  readonly code: ErrorCode = 'FATAL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Bad command-line or API arguments (`code: 'USAGE'`).
 *
 * @example
 * ```ts
 * await Repository.open(backend, 42 as unknown as string); // rejects: UsageError, code 'USAGE'
 * ```
 */
export class UsageError extends ResticError {
  override readonly code: ErrorCode = 'USAGE';
}

/**
 * No repository at the location, no config file (`code: 'NO_REPOSITORY'`, exit 10).
 *
 * @example
 * ```ts
 * const err = await Repository.open(new LocalBackend('/nowhere'), pw).catch((e) => e);
 * if (err instanceof RepositoryNotFoundError) await Repository.init(new LocalBackend('/nowhere'), pw);
 * ```
 */
export class RepositoryNotFoundError extends ResticError {
  override readonly exitCode: number = ExitCode.RepositoryNotFound;
  override readonly code: ErrorCode = 'NO_REPOSITORY';
}

/**
 * No key file could be opened with the password (`code: 'WRONG_PASSWORD'`, exit 12).
 *
 * @example
 * ```ts
 * const err = await Repository.open(backend, 'guess').catch((e) => e);
 * if (err instanceof WrongPasswordError) console.error('wrong password'); // err.code === 'WRONG_PASSWORD'
 * ```
 */
export class WrongPasswordError extends ResticError {
  override readonly exitCode: number = ExitCode.WrongPassword;
  override readonly code: ErrorCode = 'WRONG_PASSWORD';
}

/**
 * A lock held by someone else prevents the operation (`code: 'LOCKED'`, exit 11).
 *
 * @example
 * ```ts
 * await prune(repo).catch((e) => { if (e instanceof LockError) console.error(e.message); else throw e; });
 * ```
 */
export class LockError extends ResticError {
  override readonly exitCode: number = ExitCode.LockFailed;
  override readonly code: ErrorCode = 'LOCKED';
}

/**
 * MAC mismatch, hash mismatch or malformed content: the data cannot be trusted (`code: 'INTEGRITY'`).
 *
 * @example
 * ```ts
 * await repo.loadBlob('data', id).catch((e) => { if (e.code === 'INTEGRITY') console.error('damaged:', e.message); });
 * ```
 */
export class IntegrityError extends ResticError {
  override readonly code: ErrorCode = 'INTEGRITY';
}

/**
 * A key file whose KDF parameters are invalid or would need absurd resources (`code: 'KEY_PARAMS'`).
 *
 * @example
 * ```ts
 * const err = await Repository.open(backend, pw).catch((e) => e); // a key demanding absurd scrypt memory
 * if (err instanceof KeyParamsError) console.error(err.message);
 * ```
 */
export class KeyParamsError extends ResticError {
  override readonly code: ErrorCode = 'KEY_PARAMS';
}

/**
 * A backend object, snapshot or path that does not exist (`code: 'NOT_FOUND'`).
 *
 * @example
 * ```ts
 * const err = await stat(repo, 'latest', '/missing').catch((e) => e);
 * if (err instanceof NotFoundError) console.log('no such path'); // err.code === 'NOT_FOUND'
 * ```
 */
export class NotFoundError extends ResticError {
  override readonly code: ErrorCode = 'NOT_FOUND';
}

/**
 * The repository or an object in it has an unsupported format (`code: 'FORMAT'`).
 *
 * @example
 * ```ts
 * if (err instanceof FormatError) console.error('unsupported repository format:', err.message);
 * ```
 */
export class FormatError extends ResticError {
  override readonly code: ErrorCode = 'FORMAT';
}

/**
 * The operation was cancelled through its AbortSignal (`code: 'ABORTED'`, exit 130). Locks
 * it took are released and nothing half-written is left referenced.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * const run = backup(repo, ['/data'], { signal: ac.signal });
 * ac.abort();
 * await run.catch((e) => { if (!(e instanceof AbortedError)) throw e; }); // e.exitCode === 130
 * ```
 */
export class AbortedError extends ResticError {
  override readonly exitCode: number = ExitCode.Interrupted;
  override readonly code: ErrorCode = 'ABORTED';
}

/**
 * Throw AbortedError when `signal` has fired. Long-running functions call this between steps.
 */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) throw new AbortedError(`${what} cancelled`, { cause: signal.reason });
}

/**
 * `err` as AbortedError when `signal` fired (a DOMException AbortError or any failure after the
 * abort is the abort's consequence); otherwise `err` unchanged.
 */
export function asAbortedError(err: unknown, signal: AbortSignal | undefined, what = 'operation'): unknown {
  if (err instanceof AbortedError) return err;
  const isAbort = (err as Error | undefined)?.name === 'AbortError';
  if (signal?.aborted || isAbort) return new AbortedError(`${what} cancelled`, { cause: signal?.reason ?? err });
  return err;
}

/** The errno code (`ENOENT`, `EEXIST`, …) of a Node.js system error, if any. */
export function errCode(err: unknown): string | undefined {
  if (err instanceof ResticError) return undefined;
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A value's type as an error message names it. */
function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'a Uint8Array';
  return typeof v === 'object'
    ? `an object (${
        Object.keys(v as object)
          .slice(0, 3)
          .join(', ') || 'no keys'
      })`
    : `${typeof v}`;
}

/**
 * Runtime check of a public entry point's argument: a UsageError naming the function, what it
 * expected and what it got, instead of a TypeError from deep inside.
 */
export function checkArg(ok: boolean, where: string, expected: string, got: unknown): asserts ok {
  if (!ok) throw new UsageError(`${where}: expected ${expected}, got ${typeName(got)}`);
}

/** The options argument of a public function: undefined or an object whose `signal` is an AbortSignal. */
export function checkOptions(opts: unknown, where: string): void {
  checkArg(opts === undefined || (typeof opts === 'object' && opts !== null && !Array.isArray(opts)), where, 'an options object', opts);
  const signal = (opts as { signal?: unknown } | undefined)?.signal;
  checkArg(signal === undefined || signal instanceof AbortSignal, where, 'options.signal to be an AbortSignal', signal);
}

const fatalErrors = new WeakSet<object>();

/**
 * Mark an error as ending the whole operation (a backend that is down, a failed pack upload):
 * code that turns per-item errors into warnings (one bad file must not stop a backup) lets
 * these through instead of repeating them for every remaining item.
 */
export function markFatal<E extends object>(err: E): E {
  fatalErrors.add(err);
  return err;
}

export function isFatal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && fatalErrors.has(err);
}
