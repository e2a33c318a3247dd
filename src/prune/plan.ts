/**
 * Deciding what prune does, as restic 0.14's planPrune/decidePackAction: classify every
 * indexed blob as used, unused or duplicate; then per pack remove (nothing used), keep, or
 * repack, repacking the worst packs first until the unused share is within --max-unused.
 */
import type { MasterIndex } from '../repository/master-index.js';
import type { IndexPack } from '../format/index-file.js';
import { HEADER_SIZE, entrySize, type BlobType } from '../format/pack.js';
import { ResticError, UsageError } from '../errors.js';
import { parseSize } from '../go/size.js';
import { blobKey } from './used-blobs.js';

export interface PruneLimits {
  /** Tolerated unused bytes after prune, given the used bytes. */
  maxUnusedBytes: (used: number) => number;
  maxRepackBytes: number;
  repackCacheableOnly: boolean;
  repackSmall: boolean;
  repackUncompressed: boolean;
}

/** restic's --max-unused: "unlimited", "x%" (of the used size) or a size. */
export function parseMaxUnused(v: string): (used: number) => number {
  const s = v.trim();
  if (s === '') throw new UsageError(`invalid value for --max-unused: ${JSON.stringify(v)}`);
  if (s === 'unlimited') return () => Number.POSITIVE_INFINITY;
  if (s.endsWith('%')) {
    const p = Number(s.slice(0, -1));
    if (s.slice(0, -1).trim() === '' || !Number.isFinite(p))
      throw new UsageError(`invalid percentage ${JSON.stringify(v)} passed for --max-unused`);
    if (p < 0) throw new UsageError('percentage for --max-unused must be positive');
    if (p >= 100) throw new UsageError('percentage for --max-unused must be below 100%');
    return (used) => Math.floor((p / (100 - p)) * used);
  }
  let size: number;
  try {
    size = parseSize(s);
  } catch (err) {
    throw new UsageError(`invalid number of bytes ${JSON.stringify(v)} for --max-unused: ${(err as Error).message}`);
  }
  return () => size;
}

/** prune()'s counts and sizes, as restic prints them. */
export interface PruneStats {
  blobs: { used: number; duplicate: number; unused: number; remove: number; repack: number; repackrm: number };
  size: { used: number; duplicate: number; unused: number; remove: number; repack: number; repackrm: number; unref: number };
  packs: { used: number; unused: number; partlyUsed: number; unref: number; keep: number; repack: number; remove: number };
}

/** Which packs prune() keeps, repacks and removes. */
export interface PrunePlan {
  /** Packs in the repository that no index lists: deleted first. */
  removePacksFirst: Set<string>;
  repackPacks: Set<string>;
  /** Blob keys (blobKey) that repacking must copy into new packs. */
  keepBlobs: Set<string>;
  /** Packs with nothing used: deleted after the new index is stored. */
  removePacks: Set<string>;
  /** Indexed packs that are missing but hold nothing needed: dropped from the index. */
  ignorePacks: Set<string>;
}

type PackKind = BlobType | 'mixed' | null;

interface PackInfo {
  id: string;
  usedBlobs: number;
  unusedBlobs: number;
  usedSize: number;
  unusedSize: number;
  kind: PackKind;
  uncompressed: boolean;
}

export function newStats(): PruneStats {
  return {
    blobs: { used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0 },
    size: { used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0, unref: 0 },
    packs: { used: 0, unused: 0, partlyUsed: 0, unref: 0, keep: 0, repack: 0, remove: 0 },
  };
}

/**
 * `used` is consumed (emptied as blobs are found). Throws when a used blob is not indexed:
 * prune must not run on a repository that already misses data.
 */
export function packInfoFromIndex(
  index: MasterIndex,
  used: Set<string>,
  stats: PruneStats,
): { keepBlobs: Set<string>; packs: Map<string, PackInfo> } {
  const { keepBlobs, duplicates } = classifyBlobs(index, used, stats);
  const packs = new Map<string, PackInfo>();
  for (const p of index.allPacks()) packs.set(p.id, packInfo(p, keepBlobs, duplicates));
  if (duplicates.size) assignDuplicates(index, packs, duplicates);
  return { keepBlobs, packs };
}

/**
 * Each indexed blob is used (its first copy), a duplicate (later copies of a used blob;
 * the map counts copies, at most 255) or unused.
 */
function classifyBlobs(
  index: MasterIndex,
  used: Set<string>,
  stats: PruneStats,
): { keepBlobs: Set<string>; duplicates: Map<string, number> } {
  const keepBlobs = new Set<string>();
  const duplicates = new Map<string, number>();
  for (const p of index.allPacks()) {
    for (const b of p.blobs) {
      const k = blobKey(b.type, b.id);
      if (used.has(k)) {
        used.delete(k);
        keepBlobs.add(k);
        stats.size.used += b.length;
        stats.blobs.used++;
      } else if (keepBlobs.has(k)) {
        duplicates.set(k, Math.min(255, (duplicates.get(k) ?? 1) + 1));
        stats.size.duplicate += b.length;
        stats.blobs.duplicate++;
      } else {
        stats.size.unused += b.length;
        stats.blobs.unused++;
      }
    }
  }
  if (used.size) {
    const missing = [...used].slice(0, 5).map((k) => `${k[0] === 't' ? 'tree' : 'data'} blob ${k.slice(1)}`);
    throw new ResticError(
      `${used.size} used blobs not found in the index (${missing.join(', ')}${used.size > 5 ? ', …' : ''}): ` +
        'integrity check failed, data seems to be missing; will not start prune to prevent (additional) data loss',
    );
  }
  return { keepBlobs, duplicates };
}

/** A pack's used and unused blobs and sizes, duplicates left out (assignDuplicates counts them). */
function packInfo(p: IndexPack, keepBlobs: Set<string>, duplicates: Map<string, number>): PackInfo {
  const info: PackInfo = {
    id: p.id,
    usedBlobs: 0,
    unusedBlobs: 0,
    usedSize: HEADER_SIZE,
    unusedSize: 0,
    kind: null,
    uncompressed: false,
  };
  for (const b of p.blobs) {
    info.usedSize += entrySize(b);
    info.kind = info.kind === null ? b.type : info.kind === b.type ? info.kind : 'mixed';
    const k = blobKey(b.type, b.id);
    if (duplicates.has(k)) {
      // decided by assignDuplicates
    } else if (keepBlobs.has(k)) {
      info.usedSize += b.length;
      info.usedBlobs++;
    } else {
      info.unusedSize += b.length;
      info.unusedBlobs++;
    }
    if (!b.uncompressedLength) info.uncompressed = true;
  }
  return info;
}

/** One copy of each duplicate counts as used: preferably in a pack that has used blobs anyway. */
function assignDuplicates(index: MasterIndex, packs: Map<string, PackInfo>, duplicates: Map<string, number>): void {
  for (const p of index.allPacks()) {
    const info = packs.get(p.id)!;
    for (const b of p.blobs) {
      const k = blobKey(b.type, b.id);
      const count = duplicates.get(k);
      if (count === undefined) continue;
      if (count !== 0 && (info.usedBlobs > 0 || count === 1)) {
        info.usedSize += b.length;
        info.usedBlobs++;
        duplicates.set(k, 0);
      } else {
        info.unusedSize += b.length;
        info.unusedBlobs++;
        if (count !== 0) duplicates.set(k, count - 1);
      }
    }
  }
}

/** Per-pack decisions. `present` lists the packs in the repository with their sizes. */
export function decidePackAction(
  packs: Map<string, PackInfo>,
  present: Map<string, number>,
  limits: PruneLimits,
  repo: { version: number; packSize: number },
  stats: PruneStats,
  warn: (line: string) => void,
): PrunePlan {
  const targetPackSize = limits.repackSmall ? Math.floor(repo.packSize / 5) * 4 : Math.floor(repo.packSize / 25);
  const remaining = new Map(packs);
  const t = triagePresentPacks(present, remaining, limits, repo.version, targetPackSize, stats);
  const ignorePacks = forgetMissingPacks(remaining, stats, warn);

  // A handful of small packs is not worth rewriting (and would be rewritten forever).
  let candidates = t.candidates;
  if (t.smallCandidates.length < 10) stats.packs.keep += t.smallCandidates.length;
  else candidates = candidates.concat(t.smallCandidates);
  sortRepackCandidates(candidates, targetPackSize);
  const repackPacks = chooseRepacks(candidates, limits, targetPackSize, stats);

  stats.packs.unref = t.removePacksFirst.size;
  stats.packs.repack = repackPacks.size;
  stats.packs.remove = t.removePacks.size;
  return { removePacksFirst: t.removePacksFirst, repackPacks, keepBlobs: new Set(), removePacks: t.removePacks, ignorePacks };
}

/** The packs in the repository, sorted into unreferenced, unused, kept and repack candidates. */
interface Triage {
  removePacksFirst: Set<string>;
  removePacks: Set<string>;
  candidates: PackInfo[];
  /** Fully used packs below the target size. */
  smallCandidates: PackInfo[];
}

/** A pack's size as the index tells it (header included). */
function packTotal(p: PackInfo): number {
  return p.unusedSize + p.usedSize;
}

/** Decide for each present pack; the indexed ones are taken out of `remaining`. */
function triagePresentPacks(
  present: Map<string, number>,
  remaining: Map<string, PackInfo>,
  limits: PruneLimits,
  version: number,
  targetPackSize: number,
  stats: PruneStats,
): Triage {
  const t: Triage = { removePacksFirst: new Set(), removePacks: new Set(), candidates: [], smallCandidates: [] };
  for (const [id, packSize] of present) {
    const p = remaining.get(id);
    if (!p) {
      t.removePacksFirst.add(id);
      stats.size.unref += packSize;
      continue;
    }
    remaining.delete(id);
    if (packTotal(p) !== packSize && p.usedBlobs !== 0) {
      throw new ResticError(
        `pack ${id.slice(0, 8)}: calculated size ${packTotal(p)} does not match real size ${packSize}; run 'restic-ts rebuild-index'`,
      );
    }
    if (p.usedBlobs === 0) stats.packs.unused++;
    else if (p.unusedBlobs === 0) stats.packs.used++;
    else stats.packs.partlyUsed++;

    // v2: uncompressed trees are always recompressed; data only with --repack-uncompressed.
    const mustCompress = version >= 2 && (p.kind === 'tree' || limits.repackUncompressed) && p.uncompressed;
    p.uncompressed = mustCompress;

    if (p.usedBlobs === 0) {
      t.removePacks.add(id);
      stats.blobs.remove += p.unusedBlobs;
      stats.size.remove += p.unusedSize;
    } else if (limits.repackCacheableOnly && p.kind === 'data') {
      stats.packs.keep++;
    } else if (p.unusedBlobs === 0 && p.kind !== 'mixed' && !mustCompress) {
      if (packSize >= targetPackSize) stats.packs.keep++;
      else t.smallCandidates.push(p);
    } else {
      t.candidates.push(p);
    }
  }
  return t;
}

/** What is left in `remaining` is indexed but missing: harmless when nothing in it is needed. */
function forgetMissingPacks(remaining: Map<string, PackInfo>, stats: PruneStats, warn: (line: string) => void): Set<string> {
  const ignorePacks = new Set<string>();
  for (const [id, p] of remaining) {
    if (p.usedBlobs !== 0) continue;
    ignorePacks.add(id);
    stats.blobs.remove += p.unusedBlobs;
    stats.size.remove += p.unusedSize;
    remaining.delete(id);
  }
  if (remaining.size) {
    throw new ResticError(
      `the index references ${remaining.size} needed pack files which are missing from the repository: ${[...remaining.keys()].join(', ')}`,
    );
  }
  if (ignorePacks.size) {
    warn('Missing but unneeded pack files are referenced in the index, will be repaired');
    for (const id of ignorePacks) warn(`will forget missing pack file ${id}`);
  }
  return ignorePacks;
}

/** Tree and mixed packs first, then small ones, then by unused share. */
function sortRepackCandidates(candidates: PackInfo[], targetPackSize: number): void {
  candidates.sort((a, b) => {
    const aData = a.kind === 'data';
    const bData = b.kind === 'data';
    if (!aData && bData) return -1;
    if (aData && !bData) return 1;
    const aSmall = packTotal(a) < targetPackSize;
    const bSmall = packTotal(b) < targetPackSize;
    if (aSmall && !bSmall) return -1;
    if (bSmall && !aSmall) return 1;
    // Highest unused/used ratio first (cross-multiplied to stay exact).
    return b.unusedSize * a.usedSize - a.unusedSize * b.usedSize;
  });
}

/** Repack candidates in order until the unused space is within --max-unused or --max-repack-size is reached. */
function chooseRepacks(candidates: PackInfo[], limits: PruneLimits, targetPackSize: number, stats: PruneStats): Set<string> {
  const repackPacks = new Set<string>();
  const maxUnusedAfter = limits.maxUnusedBytes(stats.size.used);
  for (const p of candidates) {
    const reachedUnused = stats.size.unused - stats.size.remove - stats.size.repackrm < maxUnusedAfter;
    const reachedRepackSize = stats.size.repack + packTotal(p) >= limits.maxRepackBytes;
    const largeEnough = packTotal(p) >= targetPackSize;
    if (reachedRepackSize) stats.packs.keep++;
    else if (p.kind !== 'data' || p.uncompressed) repack(p, repackPacks, stats);
    else if (reachedUnused && largeEnough) stats.packs.keep++;
    else repack(p, repackPacks, stats);
  }
  return repackPacks;
}

function repack(p: PackInfo, repackPacks: Set<string>, stats: PruneStats): void {
  repackPacks.add(p.id);
  stats.blobs.repack += p.unusedBlobs + p.usedBlobs;
  stats.size.repack += packTotal(p);
  stats.blobs.repackrm += p.unusedBlobs;
  stats.size.repackrm += p.unusedSize;
}
