/**
 * Status events with Che's state and stage names, shaped like `CheClusterBackup.status` /
 * `CheClusterRestore.status` so an operator can copy them into the custom resource.
 */
import { ExitCode, IntegrityError, LockError, NotFoundError, RepositoryNotFoundError, ResticError, WrongPasswordError } from '../errors.js';

export type OperationState = 'InProgress' | 'Succeeded' | 'Failed';

export interface StatusEvent {
  state: OperationState;
  /** The stage in progress; "" once Succeeded (Che cleared it), the failing stage when Failed. */
  stage: string;
  message: string;
  /** The 8-hex short snapshot ID, once known. */
  snapshotId?: string;
  /** On a successful backup: the Che version backed up (Che's status.cheVersion, chectl's rollback reads it). */
  cheVersion?: string;
}

export type StatusListener = (event: StatusEvent) => void;

/**
 * Backup stages, in order (Che's words; its "shapshot" typo fixed). Che's strings verbatim,
 * for a consumer whose state machine rejects unknown stages, are CHE_BACKUP_STAGES and what
 * cheBackupStatus() writes (che-operator controllers/checlusterbackup/backup_context.go).
 */
export const BACKUP_STAGES = {
  internalServer: 'Setting up internal backup server',
  connecting: 'Connecting to backup repository',
  collecting: 'Collecting Che installation data',
  sending: 'Sending backup snapshot to backup server',
} as const;

/** Restore stages, in order. The library does the first; the operator reports the rest. */
export const RESTORE_STAGES = {
  downloading: 'Downloading backup from backup server',
  deletingChe: 'Requesting deletion of existing Che',
  cleaningUp: 'Cleaning up existing Che',
  restoringObjects: 'Restoring Che related cluster objects',
  restoringCr: 'Restoring Che Custom Resource',
  waitingClean: 'Waiting until clean Che is ready',
  restoringDb: 'Restoring Che database',
  waitingReady: 'Waiting until Che is ready',
} as const;

/** The operation was cancelled through its AbortSignal. */
export class OperationAbortedError extends ResticError {
  override readonly exitCode: number = ExitCode.Interrupted;
}

/** A one-line explanation a person understands, for status.message after "Error: ". */
export function describeFailure(err: unknown, location?: string): string {
  const where = location ? ` at ${location}` : '';
  if (err instanceof OperationAbortedError) return err.message;
  if ((err as Error)?.name === 'AbortError') return 'the operation was cancelled';
  if (err instanceof WrongPasswordError) return `the repository password is wrong: no key of the repository${where} opens with it`;
  if (err instanceof RepositoryNotFoundError) return `there is no backup repository${where}`;
  if (err instanceof LockError) return `the backup repository${where} is locked by another operation: ${err.message}`;
  if (err instanceof IntegrityError) return `the backup is damaged: ${err.message}`;
  if (err instanceof NotFoundError) return err.message;
  const msg = (err as Error)?.message ?? String(err);
  return msg.split('\n')[0]!;
}

/** Emits events to a listener and remembers them (tests and CRs want the whole sequence). */
export class StatusReporter {
  readonly events: StatusEvent[] = [];
  private stage = '';

  constructor(private readonly listener?: StatusListener) {}

  get currentStage(): string {
    return this.stage;
  }

  emit(e: StatusEvent): void {
    this.stage = e.stage;
    this.events.push(e);
    try {
      this.listener?.(e);
    } catch {
      // A listener's failure must not change the outcome of the backup.
    }
  }

  progress(stage: string, message: string, snapshotId?: string): void {
    this.emit({ state: 'InProgress', stage, message, ...(snapshotId ? { snapshotId } : {}) });
  }

  /** Che cleared the stage on success (its GetPhaseMessage() is "" once every step is done). */
  succeeded(message: string, extra: { snapshotId?: string; cheVersion?: string } = {}): void {
    const { snapshotId, cheVersion } = extra;
    this.emit({ state: 'Succeeded', stage: '', message, ...(snapshotId ? { snapshotId } : {}), ...(cheVersion ? { cheVersion } : {}) });
  }

  failed(err: unknown, location?: string): void {
    this.emit({ state: 'Failed', stage: this.stage, message: `Error: ${describeFailure(err, location)}` });
  }
}

/**
 * Throw OperationAbortedError when the signal fired (with the stage it stopped in), so the
 * caller sees a typed error with exit code 130 rather than a bare AbortError.
 */
export function checkAborted(signal: AbortSignal | undefined, stage: string): void {
  if (signal?.aborted) throw new OperationAbortedError(`cancelled during "${stage}"`);
}

/** Map an AbortError raised deep inside (archiver, fetch) to OperationAbortedError. */
export function asAborted(err: unknown, signal: AbortSignal | undefined, stage: string): unknown {
  if (signal?.aborted && !(err instanceof OperationAbortedError))
    return new OperationAbortedError(`cancelled during "${stage}"`, { cause: err });
  return err;
}
