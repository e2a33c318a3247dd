/**
 * restic 0.14's `rebuild-index` (later `repair index`): keep the index entries of packs that
 * exist with the predicted size, read the headers of packs that are unindexed or have the
 * wrong size, forget packs that are gone, write one complete new index and delete every old
 * index file. The caller holds an exclusive lock.
 */
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';
import { mapLimit } from '../parallel/map-limit.js';
import { decodeIndex, type IndexPack } from '../format/index-file.js';
import { MasterIndex } from '../repository/master-index.js';
import { packSizeFromBlobs, readPackHeader } from '../format/pack.js';
import { deleteIndexFiles, writeIndexFiles } from './index-writer.js';

/** Options of rebuildIndex(). */
export interface RebuildIndexOptions extends OperationOptions {
  /** Ignore the existing index and read every pack header. */
  readAllPacks?: boolean;
  /** Progress lines (restic's Verbosef). */
  log?: (line: string) => void;
  /** Warnings (restic's Warnf). */
  warn?: (line: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** What rebuildIndex() read, dropped and wrote. */
export interface RebuildIndexResult {
  /** Packs whose headers were read (unindexed or with the wrong size). */
  packsRead: string[];
  /** Indexed packs that no longer exist and were dropped. */
  packsForgotten: string[];
  /** Packs whose header could not be read; they are left out of the index. */
  invalidPacks: string[];
  /** Index files that were written. */
  newIndexes: string[];
  /** Old index files that were deleted. */
  removedIndexes: string[];
}

/** Pack headers read in parallel. */
const HEADER_CONCURRENCY = 8;

/**
 * restic's `repair index` (`rebuild-index`): a new index from the packs, under an exclusive lock.
 *
 * @example
 * ```ts
 * const { newIndexes } = await rebuildIndex(repo, { readAllPacks: true });
 * ```
 */
export async function rebuildIndex(repo: Repository, opts: RebuildIndexOptions = {}): Promise<RebuildIndexResult> {
  checkRepository(repo, 'rebuildIndex');
  return repo.runLocked('rebuild-index', true, opts, () => rebuildLocked(repo, opts));
}

async function rebuildLocked(repo: Repository, opts: RebuildIndexOptions): Promise<RebuildIndexResult> {
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? (() => {});
  const oldIndexes: string[] = [];
  for await (const id of repo.listIds('index')) oldIndexes.push(id);

  const index = new MasterIndex();
  if (!opts.readAllPacks) {
    log('loading indexes...');
    await loadIndexes(repo, oldIndexes, index, warn);
  }
  const predicted = new Map<string, number>();
  for (const p of index.allPacks()) predicted.set(p.id, packSizeFromBlobs(p.blobs));

  log('getting pack files to read...');
  const keep = new Map<string, IndexPack>();
  const toRead = new Map<string, number>();
  for await (const f of repo.backend.list('pack')) {
    const size = predicted.get(f.name);
    predicted.delete(f.name);
    if (size === f.size) {
      keep.set(f.name, { id: f.name, blobs: index.packContents(f.name)! });
      continue;
    }
    toRead.set(f.name, f.size);
    if (size === undefined) warn(`adding pack file to index ${f.name}`);
    else warn(`reindexing pack file ${f.name} with unexpected size ${f.size} instead of ${size}`);
  }
  const packsForgotten = [...predicted.keys()];
  for (const id of packsForgotten) warn(`removing not found pack file ${id}`);

  const invalidPacks = toRead.size ? await readPackHeaders(repo, toRead, keep, opts) : [];

  log('rebuilding index');
  const sorted = [...keep.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const newIndexes = await writeIndexFiles(repo, sorted, oldIndexes);
  log('deleting obsolete index files');
  const removedIndexes = oldIndexes.filter((id) => !newIndexes.includes(id));
  await deleteIndexFiles(repo, removedIndexes);
  log('done');
  return {
    packsRead: [...toRead.keys()].filter((id) => !invalidPacks.includes(id)),
    packsForgotten,
    invalidPacks,
    newIndexes,
    removedIndexes,
  };
}

/** Add the readable index files to `index`; unreadable ones are reported and left out (rewritten). */
async function loadIndexes(repo: Repository, ids: string[], index: MasterIndex, warn: (line: string) => void): Promise<void> {
  for (const id of ids) {
    try {
      index.addIndex(decodeIndex(await repo.loadUnpacked('index', id), id).packs);
    } catch (err) {
      warn(`removing invalid index ${id}: ${(err as Error).message}`);
    }
  }
}

/** Index the packs in `toRead` from their headers into `keep`; returns the packs whose header could not be read. */
async function readPackHeaders(
  repo: Repository,
  toRead: Map<string, number>,
  keep: Map<string, IndexPack>,
  opts: RebuildIndexOptions,
): Promise<string[]> {
  const log = opts.log ?? (() => {});
  log('reading pack files');
  const invalidPacks: string[] = [];
  let done = 0;
  opts.onProgress?.(0, toRead.size);
  await mapLimit([...toRead], HEADER_CONCURRENCY, async ([id, size]) => {
    try {
      const { blobs } = await readPackHeader(repo.backend, repo.key, id, size);
      keep.set(id, { id, blobs });
    } catch (err) {
      invalidPacks.push(id);
      log(`skipped incomplete pack file: ${id}: ${(err as Error).message}`);
    }
    opts.signal?.throwIfAborted();
    opts.onProgress?.(++done, toRead.size);
  });
  return invalidPacks;
}
