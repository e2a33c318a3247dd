/**
 * restic-ts public API: open or create restic repositories on any Backend, back up
 * files, restore snapshots, and work with the format objects directly.
 */
export * from './errors.js';
export * from './backends/backend.js';
export { LocalBackend } from './backends/local.js';
export { MemoryBackend } from './backends/memory.js';
export { openLocation, type BackendOptions } from './backends/location.js';
export { RestBackend, type RestBackendOptions } from './backends/rest.js';
export { S3Backend, S3Error, parseS3Location, type S3BackendOptions, type S3Credentials, type BucketLookup } from './backends/s3.js';
export { RetryBackend, BackendRequestError, AuthenticationError, BackendError, type RetryOptions } from './backends/retry.js';
export { startRestServer, RestServerError, type RestServerOptions, type RestServer } from './rest-server/server.js';
export { SftpBackend, HostKeyError, parseSftpLocation, type SftpBackendOptions, type SftpPrivateKey } from './backends/sftp/sftp.js';
export {
  Repository,
  type InitOptions,
  type OpenOptions,
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
export { type LockInfo, describeLock } from './format/lock-file.js';
export type { KeyFile } from './format/key.js';
export { MIGRATIONS, upgradeRepoV2, structuralProblems, type Migration } from './repository/migrations.js';
export type { Snapshot } from './format/snapshot.js';
export type { Node, NodeType, ExtendedAttribute } from './format/node.js';
export type { PackedBlob, BlobType } from './format/pack.js';
export { encodeTree, decodeTree } from './format/tree.js';
export { backup, Archiver, type BackupOptions, type BackupResult, type BackupWarning, type FileChanged } from './archiver/archiver.js';
export { restore, Restorer, readFileContent, type RestoreOptions, type RestoreStats } from './restorer/restorer.js';
export type { ArchiverFs } from './archiver/fs.js';
export {
  backupEntries,
  VirtualArchiver,
  type VirtualEntry,
  type EntryContent,
  type VirtualBackupOptions,
  type VirtualBackupResult,
} from './archiver/virtual.js';
export type { CompressionMode } from './compress/zstd.js';
export type { KdfParams, MasterKey } from './crypto/index.js';
export * from './walker/index.js';
export * from './dump/index.js';
export {
  check,
  Checker,
  type CheckOptions,
  type CheckResult,
  type CheckPhase,
  type Finding,
  type FindingKind,
  parseSubset,
  selectPacks,
  verifyPack,
} from './checker/index.js';
export {
  prune,
  pruneLimits,
  findUsedBlobs,
  type PruneOptions,
  type PruneResult,
  type PruneStep,
  type PrunePlan,
  type PruneStats,
} from './prune/index.js';
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
export { TreeRewriter, type TreeRewriteOptions, type TreeStore } from './walker/rewriter.js';
export { filesFromTargets, type FilesFromOptions } from './archiver/files-from.js';
export { type OverwriteBehavior } from './restorer/overwrite.js';
export type { RestoreItem } from './restorer/restorer.js';
export { DryRunBackend } from './backends/dry-run.js';
export { LimitedBackend, type RateLimits } from './backends/limiter.js';
export * from './forget/index.js';
export * from './copy/index.js';
export { VERSION } from './version.js';
export * from './operator/index.js';
export { fileModeString, formatNodeLine, lsNodeJson, findNodeJson, resticFormatBytes } from './ui/format.js';
export { pruneStatsText } from './ui/prune-report.js';
