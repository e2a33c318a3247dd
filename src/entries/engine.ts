/**
 * `restic-ts/engine`: the building blocks behind the root entry's operations, for callers
 * that need more control: the archiver/restorer/checker classes (they take no lock: hold one
 * with Repository.acquireLock), snapshot selection, forget policies, tree walking, find,
 * diff, stats, tar/zip writers and restic's text formatters.
 */
export { Archiver, type BackupItem, type BackupProgress, type BackupStats } from '../archiver/archiver.js';
export { VirtualArchiver } from '../archiver/virtual.js';
export { Restorer } from '../restorer/restorer.js';
export { Checker, parseSubset, selectPacks, verifyPack } from '../checker/index.js';
export { pruneLimits, findUsedBlobs } from '../prune/index.js';
export { TreeRewriter, type TreeRewriteOptions, type TreeStore } from '../walker/rewriter.js';
export { filesFromTargets, type FilesFromOptions } from '../archiver/files-from.js';
export * from '../forget/index.js';
export { similarSnapshots, type CopiedSnapshot } from '../copy/index.js';
export * from '../walker/index.js';
export * from '../dump/index.js';
export { fileModeString, formatNodeLine, lsNodeJson, findNodeJson, resticFormatBytes } from '../ui/format.js';
export { pruneStatsText } from '../ui/prune-report.js';
