/** Prune: remove data that no snapshot needs (restic 0.14's algorithm). */
export { prune, pruneLimits, type PruneOptions, type PruneResult, type PruneStep, type PrunePlan, type PruneStats } from './prune.js';
export { findUsedBlobs } from './used-blobs.js';
