/**
 * restic-ts: read and write restic repositories from TypeScript. This root entry holds what
 * most callers need: repositories and their locks, the local and in-memory backends,
 * backup, restore, reading by path, check, forget, prune, copy and the typed errors.
 * Remote backends and the rest live in subpath entries: `restic-ts/rest`, `restic-ts/s3`,
 * `restic-ts/sftp`, `restic-ts/rest-server`, `restic-ts/format`, `restic-ts/engine`,
 * `restic-ts/operator`.
 *
 * @example
 * ```ts
 * import { LocalBackend, Repository, backup, restore } from 'restic-ts';
 * const repo = await Repository.init(new LocalBackend('/srv/repo'), 'secret');
 * const { snapshotId } = await backup(repo, ['/home/me/docs']);
 * await restore(repo, snapshotId, '/tmp/restored');
 * await repo.close();
 * ```
 *
 * @packageDocumentation
 */
export {
  ExitCode,
  type ErrorCode,
  ResticError,
  UsageError,
  RepositoryNotFoundError,
  WrongPasswordError,
  LockError,
  IntegrityError,
  KeyParamsError,
  NotFoundError,
  FormatError,
  AbortedError,
} from './errors.js';
export { type Backend, type CallOptions, type FileInfo, type FileType, type Handle, FILE_TYPES } from './backends/backend.js';
export { LocalBackend } from './backends/local.js';
export { MemoryBackend } from './backends/memory.js';
export { openLocation, type BackendOptions } from './backends/location.js';
export { RetryBackend, BackendRequestError, AuthenticationError, BackendError, type RetryOptions } from './backends/retry.js';
export { DryRunBackend } from './backends/dry-run.js';
export { LimitedBackend, type RateLimits } from './backends/limiter.js';
export {
  Repository,
  type InitOptions,
  type OpenOptions,
  type OperationOptions,
  type SaveBlobResult,
  type AddKeyOptions,
  DEFAULT_PACK_SIZE,
} from './repository/repository.js';
export { type CacheOptions } from './cache/backend.js';
export type { Config } from './format/config.js';
export {
  RepositoryLock,
  type LockEvent,
  type LockOptions,
  isStale as isLockStale,
  STALE_TIMEOUT_MS,
  REFRESH_INTERVAL_MS,
} from './repository/lock.js';
export { tuneProcess, type ProcessTuning } from './repository/process-tuning.js';
export { type LockInfo, describeLock } from './format/lock-file.js';
export type { KeyFile } from './format/key.js';
export { MIGRATIONS, upgradeRepoV2, structuralProblems, type Migration } from './repository/migrations.js';
export type { Snapshot } from './format/snapshot.js';
export type { Node, NodeType, ExtendedAttribute } from './format/node.js';
export type { PackedBlob, BlobType } from './format/pack.js';
export type { CompressionMode } from './compress/zstd.js';
export type { KdfParams } from './crypto/index.js';
export {
  backup,
  type BackupOptions,
  type BackupResult,
  type BackupWarning,
  type BackupProgress,
  type BackupItem,
  type FileChanged,
} from './archiver/archiver.js';
export type { ArchiverFs } from './archiver/fs.js';
export {
  backupEntries,
  type VirtualEntry,
  type EntryContent,
  type VirtualBackupOptions,
  type VirtualBackupResult,
} from './archiver/virtual.js';
export { restore, readFileContent, type RestoreOptions, type RestoreStats, type RestoreItem } from './restorer/restorer.js';
export { type OverwriteBehavior } from './restorer/overwrite.js';
export { stat, listDirectory, walk, readFile, restoreToSink, type SnapshotPath, type TreeEntry, type RestoreSink } from './walker/read.js';
export { check, type CheckOptions, type CheckResult, type CheckPhase, type Finding, type FindingKind } from './checker/index.js';
export { prune, type PruneOptions, type PruneResult, type PruneStep, type PrunePlan, type PruneStats } from './prune/index.js';
export { forget, type ForgetOptions, type ForgetResult, type ExpirePolicy } from './forget/index.js';
export { copySnapshots, type CopyOptions, type CopyResult } from './copy/index.js';
export { rebuildIndex, type RebuildIndexOptions, type RebuildIndexResult } from './repair/rebuild-index.js';
export {
  rewriteSnapshots,
  repairSnapshots,
  type RewriteOptions,
  type ReplaceOptions,
  type ReplaceResult,
  type RewriteEvent,
} from './repair/rewrite.js';
export { repairPacks, type RepairPacksOptions, type RepairPacksResult } from './repair/packs.js';
export { recover, type RecoverOptions, type RecoverResult } from './repair/recover.js';
export { VERSION } from './version.js';
