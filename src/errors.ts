/**
 * Typed errors. Every error a user can cause carries restic's exit code (0.17+ numbering)
 * so the CLI and library callers treat failures the same way.
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

export class ResticError extends Error {
  readonly exitCode: number = ExitCode.Fatal;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line or API arguments. */
export class UsageError extends ResticError {}

/** No repository at the location (no config file). */
export class RepositoryNotFoundError extends ResticError {
  override readonly exitCode: number = ExitCode.RepositoryNotFound;
}

/** No key file could be opened with the password. */
export class WrongPasswordError extends ResticError {
  override readonly exitCode: number = ExitCode.WrongPassword;
}

/** A lock held by someone else prevents the operation. */
export class LockError extends ResticError {
  override readonly exitCode: number = ExitCode.LockFailed;
}

/** MAC mismatch, hash mismatch or malformed content: the data cannot be trusted. */
export class IntegrityError extends ResticError {}

/** A key file whose KDF parameters are invalid or would need absurd resources. */
export class KeyParamsError extends ResticError {}

/** A backend object that does not exist. */
export class NotFoundError extends ResticError {}

/** The repository or an object in it has an unsupported format. */
export class FormatError extends ResticError {}

/** The errno code (`ENOENT`, `EEXIST`, …) of a Node.js system error, if any. */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof NotFoundError || (err as { code?: string })?.code === 'ENOENT';
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
