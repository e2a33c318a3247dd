/**
 * Our status events as the exact `status` objects Che's operator wrote into its custom
 * resources (che-operator api/v1/checlusterbackup_types.go, checlusterrestore_types.go; the
 * controllers in controllers/checlusterbackup and controllers/checlusterrestore, 2021-12):
 * Go's field order, `omitempty` (no empty strings), Che's stage strings verbatim (including
 * "shapshot") unless corrected spelling is asked for, and Go's time.Time.String() in messages.
 */
import { goTimeFromNs, goTimeString, nowGoTime } from '../go/time.js';
import { BACKUP_STAGES, RESTORE_STAGES, type OperationState, type StatusEvent } from './events.js';

/** Che's backup stage strings, verbatim (backup_context.go). */
export const CHE_BACKUP_STAGES = {
  internalServer: 'Setting up internal backup server',
  connecting: 'Connecting to backup repository',
  collecting: 'Collecting Che installation data',
  sending: 'Sending backup shapshot to backup server',
} as const;

/** Che's restore stage strings (restore_context.go); ours are the same words. */
export const CHE_RESTORE_STAGES = RESTORE_STAGES;

/** `CheClusterBackup.status`. */
export interface CheClusterBackupStatus {
  message?: string;
  state?: OperationState;
  stage?: string;
  snapshotId?: string;
  cheVersion?: string;
}

/** `CheClusterRestore.status`. */
export interface CheClusterRestoreStatus {
  message?: string;
  stage?: string;
  state?: OperationState;
}

export interface CheStatusOptions {
  /** 'che' (default): Che's strings verbatim; 'corrected': our spelling ("snapshot"). */
  spelling?: 'che' | 'corrected';
}

/** A stage as Che spelled it (only the sending stage differs). */
export function cheStageName(stage: string): string {
  return stage === BACKUP_STAGES.sending ? CHE_BACKUP_STAGES.sending : stage;
}

function put<T extends object>(o: T, k: keyof T, v: string | undefined): void {
  if (v) (o as Record<string, string>)[k as string] = v; // Go's omitempty
}

/** The `CheClusterBackup.status` Che wrote at the point this event describes. */
export function cheBackupStatus(e: StatusEvent, opts: CheStatusOptions = {}): CheClusterBackupStatus {
  const s: CheClusterBackupStatus = {};
  put(s, 'message', e.message);
  put(s, 'state', e.state);
  put(s, 'stage', opts.spelling === 'corrected' ? e.stage : cheStageName(e.stage));
  // Che cleared snapshotId on failure and set it, with cheVersion, only on success.
  if (e.state === 'Succeeded') {
    put(s, 'snapshotId', e.snapshotId);
    put(s, 'cheVersion', e.cheVersion);
  }
  return s;
}

/** The `CheClusterRestore.status` Che wrote at the point this event describes. */
export function cheRestoreStatus(e: StatusEvent): CheClusterRestoreStatus {
  const s: CheClusterRestoreStatus = {};
  put(s, 'message', e.message);
  put(s, 'stage', e.stage);
  put(s, 'state', e.state);
  return s;
}

/**
 * Go's `time.Now().String()`, as Che put it in messages and backup-info.yaml:
 * "2021-12-15 10:23:45.123456789 +0000 UTC m=+12.345678901" (the monotonic reading is the
 * time since the process started, as Go's is).
 */
export function goNowString(at?: Date): string {
  const mono = performance.now(); // ms since this process started
  const sec = Math.floor(mono / 1000);
  const nsec = Math.floor((mono - sec * 1000) * 1e6);
  const wall = at ? goTimeFromNs(BigInt(at.getTime()) * 1_000_000n) : nowGoTime();
  return `${goTimeString(wall)} m=+${sec}.${String(nsec).padStart(9, '0')}`;
}
