/**
 * `prune(repo, opts)`: remove data no snapshot needs, as restic 0.14 does.
 *
 * Crash safety comes from the order of writes: (1) packs no index lists are deleted (nothing
 * can need them); (2) blobs still needed from packs being repacked are copied into new packs;
 * (3) a complete new index (old entries minus removed packs, plus the new packs) is stored;
 * (4) only then are the old index files deleted, and (5) last the packs that are no longer
 * referenced. A kill at any instant leaves every needed blob both stored and indexed; at
 * worst packs or index entries are left over, which check reports as non-critical.
 *
 * The caller must hold an exclusive lock. The repository's own in-memory index is not updated;
 * reopen the repository (or reload the index) before using it for more work.
 */
import { type Repository } from '../repository/repository.js';
import { mapLimit } from '../parallel/map-limit.js';
import { decodeIndex, type IndexPack } from '../format/index-file.js';
import { MasterIndex } from '../repository/master-index.js';
import { PackWriter, MAX_HEADER_SIZE, type BlobType, type PackedBlob } from '../format/pack.js';
import { encodeBlob } from '../format/blob-codec.js';
import { ResticError } from '../errors.js';
import { parseSize } from '../go/size.js';
import { blobKey, findUsedBlobs } from './used-blobs.js';
import { deleteIndexFiles, writeIndexFiles } from '../repair/index-writer.js';
import {
  type PruneLimits,
  type PrunePlan,
  type PruneStats,
  decidePackAction,
  newStats,
  packInfoFromIndex,
  parseMaxUnused,
} from './plan.js';

export type { PrunePlan, PruneStats } from './plan.js';

/** Named moments of a prune, for progress and for crash tests that kill the process there. */
export type PruneStep =
  | 'start'
  | 'unreferenced-pack-deleted'
  | 'repack-pack-saved'
  | 'repack-done'
  | 'index-saved'
  | 'old-index-deleted'
  | 'pack-deleted'
  | 'done';

export interface PruneOptions {
  /** Tolerated unused space: "5%" (default), a size, or "unlimited". */
  maxUnused?: string;
  /** Stop repacking beyond this many bytes (a size such as "500M", or a number). */
  maxRepackSize?: string | number;
  repackCacheableOnly?: boolean;
  /** Repack packs below 80% of the pack size. */
  repackSmall?: boolean;
  /** v2: repack every uncompressed blob. */
  repackUncompressed?: boolean;
  /** Plan and report only. */
  dryRun?: boolean;
  /** Snapshots to treat as already removed (forget --prune --dry-run). */
  ignoreSnapshots?: Set<string>;
  /** restic's Verbosef lines. */
  log?: (line: string) => void;
  warn?: (line: string) => void;
  onProgress?: (what: string, done: number, total: number) => void;
  /** Called once the plan is made, before anything changes (restic prints its summary here). */
  onPlan?: (stats: PruneStats, plan: PrunePlan) => void;
  /** Called after each step; awaited. */
  onStep?: (step: PruneStep) => void | Promise<void>;
}

export interface PruneResult {
  stats: PruneStats;
  plan: PrunePlan;
  /** Packs written by repacking. */
  newPacks: string[];
  newIndexes: string[];
  dryRun: boolean;
}

export function pruneLimits(opts: PruneOptions) {
  const max = opts.maxRepackSize;
  return {
    maxUnusedBytes: parseMaxUnused(opts.maxUnused ?? '5%'),
    maxRepackBytes: max === undefined || max === '' ? Number.POSITIVE_INFINITY : typeof max === 'number' ? max : parseSize(max),
    repackCacheableOnly: !!opts.repackCacheableOnly,
    repackSmall: !!opts.repackSmall,
    repackUncompressed: !!opts.repackUncompressed,
  };
}

/** What the steps after loading the index share. */
interface PruneRun {
  repo: Repository;
  /** All index files merged. */
  index: MasterIndex;
  log: (line: string) => void;
  step: (s: PruneStep) => Promise<void>;
  /** restic's counters: "snapshots", "packs processed", "packs repacked", "files deleted". */
  progress: (what: string, done: number, total: number) => void;
}

export async function prune(repo: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const log = opts.log ?? (() => {});
  const step = async (s: PruneStep) => {
    await opts.onStep?.(s);
  };
  const limits = pruneLimits(opts);
  await step('start');

  log('loading indexes...');
  const { index, indexFiles } = await loadIndex(repo);
  const progress = (what: string, done: number, total: number) => opts.onProgress?.(what, done, total);
  const run: PruneRun = { repo, index, log, step, progress };
  log('loading all snapshots...');
  const roots = await snapshotTrees(repo, opts.ignoreSnapshots);
  log(`finding data that is still in use for ${roots.length} snapshots`);
  const used = await findUsedBlobs(repo, index, roots, (d, t) => progress('snapshots', d, t));
  const { stats, plan } = await planPrune(run, used, limits, opts.warn ?? (() => {}));
  const result: PruneResult = { stats, plan, newPacks: [], newIndexes: [], dryRun: !!opts.dryRun };
  opts.onPlan?.(stats, plan);
  if (opts.dryRun) return result;

  if (plan.removePacksFirst.size) {
    log('deleting unreferenced packs');
    await removePacks(run, plan.removePacksFirst, 'unreferenced-pack-deleted');
  }
  const newPacks: IndexPack[] = [];
  if (plan.repackPacks.size) {
    log('repacking packs');
    const written = await repack(run, plan, (d, t) => progress('packs repacked', d, t));
    newPacks.push(...written);
    result.newPacks = written.map((p) => p.id);
    if (plan.keepBlobs.size) throw new ResticError(`internal error: ${plan.keepBlobs.size} blobs were not repacked`);
    for (const id of plan.repackPacks) plan.removePacks.add(id);
    await step('repack-done');
  }
  const drop = new Set([...plan.ignorePacks, ...plan.removePacks]);
  if (drop.size || newPacks.length) result.newIndexes = await replaceIndex(run, indexFiles, drop, newPacks);
  if (plan.removePacks.size) {
    log(`removing ${plan.removePacks.size} old packs`);
    await removePacks(run, plan.removePacks, 'pack-deleted');
  }
  log('done');
  await step('done');
  return result;
}

/** All index files merged, with their ids. */
async function loadIndex(repo: Repository): Promise<{ index: MasterIndex; indexFiles: string[] }> {
  const index = new MasterIndex();
  const indexFiles: string[] = [];
  for await (const id of repo.listIds('index')) indexFiles.push(id);
  // Loaded a few at a time, merged (and the first failure thrown) in listing order.
  const loaded = await mapLimit(indexFiles, 4, async (id) => {
    try {
      return { packs: decodeIndex(await repo.loadUnpacked('index', id), id).packs };
    } catch (err) {
      return { err };
    }
  });
  for (const l of loaded) {
    if ('err' in l) throw l.err;
    index.addIndex(l.packs);
  }
  return { index, indexFiles };
}

/** The root trees of the snapshots that stay. */
async function snapshotTrees(repo: Repository, ignore: Set<string> | undefined): Promise<string[]> {
  const roots: string[] = [];
  for await (const id of repo.listIds('snapshot')) {
    if (ignore?.has(id)) continue;
    let tree: string | null;
    try {
      tree = (await repo.loadSnapshot(id)).tree;
    } catch (err) {
      throw new ResticError(`failed loading snapshot: ${(err as Error).message}`, { cause: err });
    }
    if (!tree) throw new ResticError(`failed loading snapshot: snapshot ${id} has no tree`);
    roots.push(tree);
  }
  return roots;
}

/** Decide each pack's fate (keep, repack, remove) and which blobs repacking must copy. */
async function planPrune(
  { repo, index, log, progress }: PruneRun,
  used: Set<string>,
  limits: PruneLimits,
  warn: (line: string) => void,
): Promise<{ stats: PruneStats; plan: PrunePlan }> {
  log('searching used packs...');
  const stats = newStats();
  const { keepBlobs, packs } = packInfoFromIndex(index, used, stats);

  log('collecting packs for deletion and repacking');
  const present = new Map<string, number>();
  for await (const f of repo.backend.list('pack')) present.set(f.name, f.size);
  progress('packs processed', 0, packs.size);
  const plan = decidePackAction(packs, present, limits, repo, stats, warn);
  progress('packs processed', packs.size, packs.size);
  if (plan.repackPacks.size) {
    // Blobs that stay in kept packs need no copy.
    for (const p of index.allPacks()) {
      if (plan.removePacks.has(p.id) || plan.repackPacks.has(p.id)) continue;
      for (const b of p.blobs) keepBlobs.delete(blobKey(b.type, b.id));
    }
    plan.keepBlobs = keepBlobs;
  }
  return { stats, plan };
}

async function removePacks({ repo, step, progress }: PruneRun, ids: Set<string>, done: PruneStep): Promise<void> {
  let n = 0;
  progress('files deleted', 0, ids.size);
  for (const id of ids) {
    await repo.backend.remove({ type: 'pack', name: id });
    progress('files deleted', ++n, ids.size);
    await step(done);
  }
}

/** Store the new index (old entries minus `drop`, plus the new packs), then delete the old files; returns the new ids. */
async function replaceIndex(
  { repo, index, log, step, progress }: PruneRun,
  indexFiles: string[],
  drop: Set<string>,
  newPacks: IndexPack[],
): Promise<string[]> {
  log('rebuilding index');
  const keep: IndexPack[] = [];
  for (const p of index.allPacks()) if (!drop.has(p.id)) keep.push(p);
  keep.push(...newPacks);
  progress('packs processed', 0, keep.length);
  const newIndexes = await writeIndexFiles(repo, keep, indexFiles, () => step('index-saved'));
  progress('packs processed', keep.length, keep.length);
  log('deleting obsolete index files');
  const obsolete = indexFiles.filter((id) => !newIndexes.includes(id));
  let deleted = 0;
  progress('files deleted', 0, obsolete.length);
  await deleteIndexFiles(repo, obsolete, () => {
    progress('files deleted', ++deleted, obsolete.length);
    return step('old-index-deleted');
  });
  return newIndexes;
}

/**
 * Copy the still-needed blobs of the packs being repacked into new packs (verified on the
 * way: each blob is decrypted and hashed before it is re-stored).
 */
async function repack(
  { repo, index, step }: PruneRun,
  plan: PrunePlan,
  progress: (done: number, total: number) => void,
): Promise<IndexPack[]> {
  const out: IndexPack[] = [];
  const writers: Record<BlobType, PackWriter | null> = { data: null, tree: null };
  const save = async (w: PackWriter) => {
    const { id, bytes } = w.finish(repo.key);
    await repo.backend.save({ type: 'pack', name: id }, bytes);
    out.push({ id, blobs: w.blobs.slice() });
    await step('repack-pack-saved');
  };
  const ids = [...plan.repackPacks].sort();
  let done = 0;
  progress(0, ids.length);
  for (const packId of ids) {
    const blobs = (index.packContents(packId) ?? []).filter((b) => plan.keepBlobs.has(blobKey(b.type, b.id)));
    if (blobs.length) {
      const pack = await repo.backend.load({ type: 'pack', name: packId });
      for (const b of sortByOffset(blobs)) {
        const k = blobKey(b.type, b.id);
        if (!plan.keepBlobs.has(k)) continue; // a duplicate inside the same pack
        const plain = repo.openBlob(pack.subarray(b.offset, b.offset + b.length), b.type, b.id, packId, b.uncompressedLength);
        const enc = encodeBlob(repo.key, repo.version, repo.compression, b.type, plain);
        const w = (writers[b.type] ??= new PackWriter());
        w.add(b.type, b.id, enc.encrypted, enc.uncompressedLength);
        plan.keepBlobs.delete(k);
        if (w.size >= repo.packSize || w.headerSize + 64 >= MAX_HEADER_SIZE) {
          writers[b.type] = null;
          await save(w);
        }
      }
    }
    progress(++done, ids.length);
  }
  for (const type of ['data', 'tree'] as const) {
    const w = writers[type];
    if (w && w.count) await save(w);
  }
  return out;
}

function sortByOffset(blobs: PackedBlob[]): PackedBlob[] {
  return [...blobs].sort((a, b) => a.offset - b.offset);
}
