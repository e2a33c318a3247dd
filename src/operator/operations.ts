/**
 * What a CheClusterBackup / CheClusterRestore reconcile does, as one call each: resolve the
 * server, connect (initialising a missing repository), collect and send, reporting Che's
 * stages as status events and ending in Succeeded or Failed. A failed or cancelled backup
 * never writes a snapshot: the snapshot file is the last thing written.
 */
import type { KdfParams } from '../crypto/index.js';
import type { Repository } from '../repository/repository.js';
import {
  type BackupServerConfiguration,
  type ResolvedBackupServer,
  type SecretMap,
  type SftpHostKeyOptions,
  resolveBackupServer,
} from './config.js';
import { BACKUP_STAGES, RESTORE_STAGES, StatusReporter, type StatusEvent, type StatusListener, asAborted, checkAborted } from './events.js';
import {
  type CheInstallation,
  type InstallationBackupResult,
  type RestoredInstallation,
  type SnapshotSelection,
  backupInstallation,
  readInstallation,
} from './installation.js';
import { openBackupRepository } from './repository.js';

/** Where to back up to: a resolved server, or a configuration with its secrets. */
export type BackupServerSource =
  { server: ResolvedBackupServer } | { configuration: BackupServerConfiguration; secrets: SecretMap; sftp?: SftpHostKeyOptions };

export interface OperationOptions {
  signal?: AbortSignal;
  onStatus?: StatusListener;
  /** scrypt parameters when a repository has to be created. */
  kdf?: KdfParams;
  cacert?: string[];
  extended?: Record<string, string>;
  /** Lock the repository while working (default true, as restic). */
  lock?: boolean;
}

export interface BackupOperationOptions extends OperationOptions {
  hostname?: string;
  tags?: string[];
  root?: string;
}

export interface BackupOutcome extends InstallationBackupResult {
  events: StatusEvent[];
}

function serverOf(source: BackupServerSource): ResolvedBackupServer {
  return 'server' in source ? source.server : resolveBackupServer(source.configuration, source.secrets, source.sftp);
}

async function locked<T>(repo: Repository, opts: OperationOptions, fn: () => Promise<T>): Promise<T> {
  if (opts.lock === false) return fn();
  const release = await repo.lock(false);
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}

/**
 * Back up a Che installation. Events: InProgress "Connecting to backup repository",
 * "Collecting Che installation data", "Sending backup snapshot to backup server", then
 * Succeeded (with snapshotId) or Failed ("Error: …"). Throws the typed error after Failed.
 */
export async function backupCheInstallation(
  source: BackupServerSource,
  inst: CheInstallation,
  opts: BackupOperationOptions = {},
): Promise<BackupOutcome> {
  const status = new StatusReporter(opts.onStatus);
  const start = new Date();
  const inProgress = `Backup is in progress. Start time: ${start.toISOString()}`;
  let repo: Repository | undefined;
  let location: string | undefined;
  try {
    status.progress(BACKUP_STAGES.connecting, inProgress);
    checkAborted(opts.signal, status.currentStage);
    const server = serverOf(source);
    location = server.location;
    repo = (await openBackupRepository(server, { kdf: opts.kdf, cacert: opts.cacert, extended: opts.extended })).repo;
    checkAborted(opts.signal, status.currentStage);
    status.progress(BACKUP_STAGES.collecting, inProgress);
    const result = await locked(repo, opts, () =>
      backupInstallation(repo!, inst, {
        hostname: opts.hostname,
        tags: opts.tags,
        root: opts.root,
        signal: opts.signal,
        onCollected: () => status.progress(BACKUP_STAGES.sending, inProgress),
      }),
    );
    status.succeeded(`Backup successfully finished at ${new Date().toISOString()}`, result.shortId);
    return { ...result, events: status.events };
  } catch (err) {
    const e = asAborted(err, opts.signal, status.currentStage);
    status.failed(e, location);
    throw e;
  } finally {
    await repo?.close().catch(() => {});
  }
}

export interface RestoreOperationOptions extends OperationOptions, SnapshotSelection {
  /** Also write the files into this directory (verified after writing). */
  target?: string;
}

export interface RestoreOutcome {
  installation: RestoredInstallation;
  events: StatusEvent[];
  /** Release the lock and the connection once the dump streams have been read. */
  close(): Promise<void>;
}

/**
 * Download (and verify) an installation backup: `latest`, a full ID or a unique prefix.
 * Events: InProgress "Downloading backup from backup server", then Succeeded or Failed; the
 * cluster-side stages that follow are the operator's (RESTORE_STAGES). Call close() when
 * done with the database streams.
 */
export async function restoreCheInstallation(
  source: BackupServerSource,
  snapshotId = 'latest',
  opts: RestoreOperationOptions = {},
): Promise<RestoreOutcome> {
  const status = new StatusReporter(opts.onStatus);
  const start = new Date();
  let repo: Repository | undefined;
  let location: string | undefined;
  let release: (() => Promise<void>) | undefined;
  try {
    status.progress(RESTORE_STAGES.downloading, `Restore is in progress. Start time: ${start.toISOString()}`);
    checkAborted(opts.signal, status.currentStage);
    const server = serverOf(source);
    location = server.location;
    // Restoring never creates a repository: a missing one is an error.
    repo = (await openBackupRepository(server, { create: false, cacert: opts.cacert, extended: opts.extended })).repo;
    if (opts.lock !== false) release = await repo.lock(false);
    checkAborted(opts.signal, status.currentStage);
    const installation = await readInstallation(repo, snapshotId, opts);
    checkAborted(opts.signal, status.currentStage);
    if (opts.target) await installation.writeTo(opts.target);
    status.succeeded(
      `Backup snapshot ${installation.shortId} downloaded and verified at ${new Date().toISOString()}`,
      installation.shortId,
    );
    const r = repo;
    let closed = false;
    return {
      installation,
      events: status.events,
      close: async () => {
        if (closed) return;
        closed = true;
        await release?.().catch(() => {});
        await r.close();
      },
    };
  } catch (err) {
    const e = asAborted(err, opts.signal, status.currentStage);
    status.failed(e, location);
    await release?.().catch(() => {});
    await repo?.close().catch(() => {});
    throw e;
  }
}
