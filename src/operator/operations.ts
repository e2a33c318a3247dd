/**
 * What a CheClusterBackup / CheClusterRestore reconcile does, as one call each: resolve the
 * server (setting up the internal one when asked), connect (initialising a missing
 * repository), optionally check it, collect and send, reporting Che's stages as status
 * events and ending in Succeeded or Failed. A failed or cancelled backup never writes a
 * snapshot: the snapshot file is the last thing written.
 * Follows che-operator controllers/checlusterbackup/checlusterbackup_controller.go and
 * controllers/checlusterrestore/checlusterrestore_controller.go (2021-12).
 */
import { Archiver } from '../archiver/archiver.js';
import { check } from '../checker/index.js';
import type { KdfParams } from '../crypto/index.js';
import { ExitCode, IntegrityError, ResticError, UsageError } from '../errors.js';
import fs from 'node:fs';
import path from 'node:path';
import { shortId } from '../format/id.js';
import type { Repository } from '../repository/repository.js';
import { VERSION } from '../version.js';
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
import { goNowString } from './status.js';
import { parseYaml } from './yaml.js';

/**
 * Where to back up to: a resolved server, a configuration with its secrets, or the internal
 * server (set up under Che's "Setting up internal backup server" stage, e.g.
 * `() => startInternalBackupServer({dir})`).
 */
export type BackupServerSource =
  | { server: ResolvedBackupServer }
  | { configuration: BackupServerConfiguration; secrets: SecretMap; sftp?: SftpHostKeyOptions }
  | { internalServer: () => Promise<{ resolved: ResolvedBackupServer }> };

/** The repository check before backup/restore (Che ran `restic check` every time). */
export interface RepositoryCheckOptions {
  /** Download and verify every pack (slow). */
  readData?: boolean;
  /** Download and verify a subset: `n/t`, `x%` or a size, as `restic check --read-data-subset`. */
  readDataSubset?: string;
}

export interface OperationOptions {
  signal?: AbortSignal;
  onStatus?: StatusListener;
  /** scrypt parameters when a repository has to be created. */
  kdf?: KdfParams;
  cacert?: string[];
  extended?: Record<string, string>;
  /** Lock the repository while working (default true, as restic). */
  lock?: boolean;
  /**
   * Check the repository first, as Che did: `true` for the structural check (index, packs,
   * snapshots and trees), or which data to read too. Default: no check.
   */
  check?: boolean | RepositoryCheckOptions;
}

export interface BackupOperationOptions extends OperationOptions {
  hostname?: string;
  tags?: string[];
  root?: string;
}

export interface BackupOutcome extends InstallationBackupResult {
  events: StatusEvent[];
}

async function serverOf(source: BackupServerSource): Promise<ResolvedBackupServer> {
  if ('server' in source) return source.server;
  if ('configuration' in source) return resolveBackupServer(source.configuration, source.secrets, source.sftp);
  return (await source.internalServer()).resolved;
}

async function locked<T>(repo: Repository, opts: OperationOptions, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
  if (opts.lock === false) return fn();
  const release = await repo.lock(exclusive);
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}

/** The check Che ran before each backup and restore; any error fails the operation. */
export async function checkBackupRepository(repo: Repository, opts: OperationOptions): Promise<void> {
  if (!opts.check) return;
  const how = opts.check === true ? {} : opts.check;
  if (how.readData && how.readDataSubset) throw new UsageError('check: readData and readDataSubset cannot be used together');
  // restic's check takes an exclusive lock; the backup's shared one comes after it.
  const result = await locked(repo, opts, true, () => check(repo, { readData: how.readData, readDataSubset: how.readDataSubset }));
  if (result.indexUnreadable || result.errors) {
    const first = result.findings.find((f) => f.severity === 'error');
    throw new IntegrityError(
      `the repository check found ${result.errors} error(s)${first ? `, the first: ${first.message.split('\n')[0]}` : ''} (run restic check for the full list)`,
    );
  }
}

interface Connected {
  repo: Repository;
  status: StatusReporter;
  /** Che's InProgress message, kept through every stage. */
  inProgress: string;
}

/**
 * Che's backup skeleton: InProgress at "Connecting to backup repository" (after the internal
 * server, when used), open or create, check, then `work`; Succeeded with the short ID and
 * the Che version, or Failed with one line.
 */
async function runBackup<R extends { snapshotId: string }>(
  source: BackupServerSource,
  opts: OperationOptions,
  cheVersion: string | undefined,
  work: (c: Connected) => Promise<R>,
): Promise<R & { shortId: string; events: StatusEvent[] }> {
  const status = new StatusReporter(opts.onStatus);
  const inProgress = `Backup is in progress. Start time: ${goNowString()}`;
  let repo: Repository | undefined;
  let location: string | undefined;
  try {
    // Che's first stage is the internal server's when one is used (backup_context.go).
    status.progress('internalServer' in source ? BACKUP_STAGES.internalServer : BACKUP_STAGES.connecting, inProgress);
    checkAborted(opts.signal, status.currentStage);
    const server = await serverOf(source);
    if (status.currentStage !== BACKUP_STAGES.connecting) status.progress(BACKUP_STAGES.connecting, inProgress);
    location = server.location;
    repo = (await openBackupRepository(server, { kdf: opts.kdf, cacert: opts.cacert, extended: opts.extended })).repo;
    await checkBackupRepository(repo, opts);
    checkAborted(opts.signal, status.currentStage);
    status.progress(BACKUP_STAGES.collecting, inProgress);
    const result = await work({ repo, status, inProgress });
    const short = shortId(result.snapshotId);
    status.succeeded(`Backup successfully finished at ${goNowString()}`, { snapshotId: short, cheVersion });
    return { ...result, shortId: short, events: status.events };
  } catch (err) {
    const e = asAborted(err, opts.signal, status.currentStage);
    status.failed(e, location);
    throw e;
  } finally {
    await repo?.close().catch(() => {});
  }
}

/**
 * Back up a Che installation. Events: InProgress ["Setting up internal backup server"],
 * "Connecting to backup repository", "Collecting Che installation data", "Sending backup
 * snapshot to backup server", then Succeeded (stage "", snapshotId, cheVersion) or Failed
 * ("Error: …"). Throws the typed error after Failed.
 */
export async function backupCheInstallation(
  source: BackupServerSource,
  inst: CheInstallation,
  opts: BackupOperationOptions = {},
): Promise<BackupOutcome> {
  return runBackup(source, opts, inst?.info?.cheVersion, ({ repo, status, inProgress }) =>
    locked(repo, opts, false, () =>
      backupInstallation(repo, inst, {
        hostname: opts.hostname,
        tags: opts.tags,
        root: opts.root,
        signal: opts.signal,
        onCollected: () => status.progress(BACKUP_STAGES.sending, inProgress),
      }),
    ),
  );
}

export interface DirectoryBackupOptions extends OperationOptions {
  hostname?: string;
  tags?: string[];
  /** For status.cheVersion on success (default: cheVersion from the directory's backup-info.yaml, if any). */
  cheVersion?: string;
}

export interface DirectoryBackupOutcome {
  snapshotId: string;
  shortId: string;
  events: StatusEvent[];
  files: number;
  bytes: number;
}

/**
 * Back up a directory already in Che's layout (what the operator collected into
 * /tmp/che-backup-data, or a restore target) exactly as `cd dir && restic backup .` did:
 * its entries at the tree root, snapshot paths [dir]. Same events as backupCheInstallation.
 */
export async function backupCheDirectory(
  source: BackupServerSource,
  dir: string,
  opts: DirectoryBackupOptions = {},
): Promise<DirectoryBackupOutcome> {
  const cheVersion = opts.cheVersion ?? cheVersionIn(dir);
  return runBackup(source, opts, cheVersion, async ({ repo, status, inProgress }) => {
    const archiver = new Archiver(repo, {
      cwd: dir,
      hostname: opts.hostname,
      tags: opts.tags,
      programVersion: `restic-ts ${VERSION}`,
    });
    const r = await locked(repo, opts, false, () => {
      status.progress(BACKUP_STAGES.sending, inProgress);
      return archiver.run(['.']);
    });
    if (r.warnings.length) {
      // As restic's exit code 3: the snapshot exists but lacks what could not be read.
      const w = r.warnings[0]!;
      throw new IncompleteBackupError(
        `snapshot ${shortId(r.snapshotId)} was saved without ${r.warnings.length} file(s) that could not be read, the first: ${w.path}: ${w.message}`,
      );
    }
    return { snapshotId: r.snapshotId, files: r.stats.totalFilesProcessed, bytes: r.stats.totalBytesProcessed };
  });
}

/** Some files of a directory backup could not be read; the snapshot was saved without them. */
export class IncompleteBackupError extends ResticError {
  override readonly exitCode: number = ExitCode.Incomplete;
}

/** cheVersion from a Che backup directory's backup-info.yaml (undefined when absent or unreadable). */
function cheVersionIn(dir: string): string | undefined {
  try {
    const info = parseYaml(fs.readFileSync(path.join(dir, 'backup-info.yaml'), 'utf8'), 'backup-info.yaml');
    const v = info && typeof info === 'object' && !Array.isArray(info) ? info['cheVersion'] : undefined;
    return typeof v === 'string' && v !== '' ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface RestoreOperationOptions extends OperationOptions, SnapshotSelection {
  /** Also write the files into this directory (verified after writing). */
  target?: string;
  /**
   * Che's full stage sequence: after the download the status moves on to "Requesting
   * deletion of existing Che" and stays InProgress; the operator reports the remaining
   * stages and the end through `progress` (Che reported Succeeded after the database
   * restore). Default false: Succeeded right after the download.
   */
  operatorStages?: boolean;
}

export type RestoreStage = (typeof RESTORE_STAGES)[keyof typeof RESTORE_STAGES];

/** The operator's side of a restore: the cluster stages after the download, then the end. */
export interface RestoreProgress {
  /** Move to a later stage (Che's strings, RESTORE_STAGES); never backwards. */
  stage(stage: RestoreStage): void;
  /** Succeeded, "Restore successfully finished", stage "" (as Che). */
  succeeded(): void;
  /** Failed, "Error: …", the stage kept. */
  failed(err: unknown): void;
}

export interface RestoreOutcome {
  installation: RestoredInstallation;
  events: StatusEvent[];
  /** With operatorStages: report the remaining stages; otherwise the restore is already Succeeded. */
  progress: RestoreProgress;
  /** Release the lock and the connection once the dump streams have been read. */
  close(): Promise<void>;
}

const RESTORE_ORDER: string[] = Object.values(RESTORE_STAGES);

function restoreProgress(status: StatusReporter, inProgress: string, open: boolean): RestoreProgress {
  let done = !open;
  const ensureOpen = () => {
    if (done) throw new UsageError(`the restore already ended (${status.events.at(-1)!.state})`);
  };
  return {
    stage(stage) {
      ensureOpen();
      const to = RESTORE_ORDER.indexOf(stage);
      if (to < 0) throw new UsageError(`unknown restore stage ${JSON.stringify(stage)} (Che's stages are RESTORE_STAGES)`);
      if (to < RESTORE_ORDER.indexOf(status.currentStage)) {
        throw new UsageError(
          `restore stage ${JSON.stringify(stage)} comes before the current one (${JSON.stringify(status.currentStage)})`,
        );
      }
      status.progress(stage, inProgress);
    },
    succeeded() {
      ensureOpen();
      done = true;
      status.succeeded('Restore successfully finished');
    },
    failed(err) {
      ensureOpen();
      done = true;
      status.failed(err);
    },
  };
}

/**
 * Download (and verify) an installation backup: `latest`, a full ID or a unique prefix.
 * Events: InProgress "Downloading backup from backup server", then Succeeded or Failed
 * (or, with operatorStages, InProgress at the next stage: see RestoreProgress). Call
 * close() when done with the database streams.
 */
export async function restoreCheInstallation(
  source: BackupServerSource,
  snapshotId = 'latest',
  opts: RestoreOperationOptions = {},
): Promise<RestoreOutcome> {
  const status = new StatusReporter(opts.onStatus);
  const inProgress = `Restore is in progress. Start time: ${goNowString()}`;
  let repo: Repository | undefined;
  let location: string | undefined;
  let release: (() => Promise<void>) | undefined;
  try {
    status.progress(RESTORE_STAGES.downloading, inProgress);
    checkAborted(opts.signal, status.currentStage);
    const server = await serverOf(source);
    location = server.location;
    // Restoring never creates a repository: a missing one is an error.
    repo = (await openBackupRepository(server, { create: false, cacert: opts.cacert, extended: opts.extended })).repo;
    await checkBackupRepository(repo, opts);
    if (opts.lock !== false) release = await repo.lock(false);
    checkAborted(opts.signal, status.currentStage);
    const installation = await readInstallation(repo, snapshotId, opts);
    checkAborted(opts.signal, status.currentStage);
    if (opts.target) await installation.writeTo(opts.target);
    if (opts.operatorStages) status.progress(RESTORE_STAGES.deletingChe, inProgress);
    else {
      status.succeeded(`Backup snapshot ${installation.shortId} downloaded and verified at ${goNowString()}`, {
        snapshotId: installation.shortId,
      });
    }
    const r = repo;
    let closed = false;
    return {
      installation,
      events: status.events,
      progress: restoreProgress(status, inProgress, !!opts.operatorStages),
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
