/**
 * `copy` as a library (restic 0.14's cmd_copy): copy snapshots the destination does not
 * already hold, with only the blobs it is missing. Tree blobs are copied as stored bytes
 * (never re-serialized); data blobs are decrypted, verified and re-encrypted with the
 * destination's key and compression.
 */
import { BlobIdSet, blobIdInto } from '../format/blob-list.js';
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';
import type { RepositoryLock } from '../repository/lock.js';
import { compareGoTimes, goTimeString } from '../go/time.js';
import { mapLimit } from '../parallel/map-limit.js';
import type { Snapshot } from '../format/snapshot.js';
import { decodeTree } from '../format/tree.js';
import { FormatError } from '../errors.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { type SnapshotSelector, hasTags, loadSnapshots, selectorMatches } from '../forget/tags.js';

/** Options of copySnapshots(). */
export interface CopyOptions extends OperationOptions {
  /** The source repository's lock (default: a shared one; `lock` is the destination's). */
  sourceLock?: boolean | RepositoryLock;
  /** --host/--tag/--path: which snapshots of both repositories are considered */
  filter?: SnapshotSelector;
  /** explicit source snapshot IDs (prefixes or "latest"); the filter then only narrows "latest" */
  ids?: string[];
  /** restic's Verbosef lines (progress words) */
  log?: (line: string) => void;
  /** restic's Warnf lines */
  warn?: (line: string) => void;
  /** Per snapshot: source packs read for the blobs the destination lacks (restic's "packs copied" counter). */
  onProgress?: (done: number, total: number) => void;
}

export interface CopiedSnapshot {
  sourceId: string;
  /** the new snapshot in the destination, or the existing copy when skipped */
  destinationId: string;
  skipped: boolean;
}

/** What copySnapshots() copied. */
export interface CopyResult {
  snapshots: CopiedSnapshot[];
  /** blobs written to the destination */
  blobs: number;
  /** bytes added to destination packs (as stored) */
  bytes: number;
}

interface Entry {
  id: string;
  snapshot: Snapshot;
}

/**
 * restic's similarSnapshots: everything but parent and original equal (paths and tags as
 * sets of the same length, excludes in order).
 */
export function similarSnapshots(a: Snapshot, b: Snapshot): boolean {
  const len = (l?: string[]) => l?.length ?? 0;
  if (compareGoTimes(a.time, b.time) !== 0 || a.tree !== b.tree || (a.hostname ?? '') !== (b.hostname ?? '')) return false;
  if ((a.username ?? '') !== (b.username ?? '') || (a.uid ?? 0) !== (b.uid ?? 0) || (a.gid ?? 0) !== (b.gid ?? 0)) return false;
  if (a.paths.length !== b.paths.length || len(a.excludes) !== len(b.excludes) || len(a.tags) !== len(b.tags)) return false;
  if (!b.paths.every((p) => a.paths.includes(p)) || !hasTags(a, b.tags ?? [])) return false;
  return (a.excludes ?? []).every((e, i) => e === b.excludes![i]);
}

/** Copy snapshots from `src` to `dst`. The caller holds (non-exclusive) locks on both. */
/**
 * restic's copy: snapshots of `src` not yet in `dst` are copied with the blobs they need, under
 * shared locks on both repositories.
 *
 * @example
 * ```ts
 * const { snapshots } = await copySnapshots(src, dst, { ids: ['latest'] });
 * ```
 */
export async function copySnapshots(src: Repository, dst: Repository, opts: CopyOptions = {}): Promise<CopyResult> {
  checkRepository(src, 'copySnapshots');
  checkRepository(dst, 'copySnapshots');
  const srcHow = { lock: opts.sourceLock, lockOptions: opts.lockOptions, signal: opts.signal };
  return src.runLocked('copy', false, srcHow, () => dst.runLocked('copy', false, opts, () => copyLocked(src, dst, opts), true));
}

async function copyLocked(src: Repository, dst: Repository, opts: CopyOptions): Promise<CopyResult> {
  const log = opts.log ?? (() => {});
  const filter = opts.filter ?? {};
  await src.loadIndex();
  await dst.loadIndex();
  const before = { ...dst.added };

  // destination snapshots by their persistent ID (original) and by their own ID
  const byOriginal = new Map<string, Entry[]>();
  const remember = (k: string, e: Entry) => byOriginal.set(k, [...(byOriginal.get(k) ?? []), e]);
  for (const e of await loadSnapshots(dst, opts.warn)) {
    if (!selectorMatches(e.snapshot, filter)) continue;
    if (e.snapshot.original) remember(e.snapshot.original, e);
    remember(e.id, e);
  }

  const sources = opts.ids?.length
    ? await findFilteredSnapshots(src, filter, opts.ids, opts.warn)
    : (await loadSnapshots(src, opts.warn)).filter((e) => selectorMatches(e.snapshot, filter));

  const visitedTrees = new Set<string>();
  const result: CopyResult = { snapshots: [], blobs: 0, bytes: 0 };
  for (const { id, snapshot } of sources) {
    log(`\nsnapshot ${id.slice(0, 8)} of [${snapshot.paths.join(' ')}] at ${goTimeString(snapshot.time)})`);
    const persistent = snapshot.original ?? id;
    const copy = byOriginal.get(persistent)?.find((d) => similarSnapshots(d.snapshot, snapshot));
    if (copy) {
      log(`skipping source snapshot ${id.slice(0, 8)}, was already copied to snapshot ${copy.id.slice(0, 8)}`);
      result.snapshots.push({ sourceId: id, destinationId: copy.id, skipped: true });
      continue;
    }
    log('  copy started, this may take a while...');
    if (!snapshot.tree) throw new FormatError(`snapshot ${id.slice(0, 8)} has no tree`);
    await copyTree(src, dst, visitedTrees, snapshot.tree, opts.onProgress, opts.signal);
    // the index is written before the snapshot that needs it
    await dst.flush();
    opts.signal?.throwIfAborted();
    const out: Snapshot = { ...snapshot, parent: undefined, original: snapshot.original ?? id };
    const newId = await dst.saveSnapshot(out);
    log(`snapshot ${newId.slice(0, 8)} saved`);
    result.snapshots.push({ sourceId: id, destinationId: newId, skipped: false });
  }
  result.blobs = dst.added.dataBlobs - before.dataBlobs + dst.added.treeBlobs - before.treeBlobs;
  result.bytes = dst.added.data - before.data + dst.added.tree - before.tree;
  return result;
}

/** Data blobs the destination lacks, as compact IDs, and the source packs to read them from. */
interface Wanted {
  blobs: BlobIdSet;
  /** Source pack of each wanted blob's first location, in the order the walk met them. */
  packs: Set<string>;
  /** The first wanted blob the source index does not have (an error once the walk is done). */
  missing: string | null;
}

/**
 * Walk the trees under `root` (each at most once) and copy every blob the destination lacks.
 * Trees are saved as they are read (already verified), so each is downloaded once. Only tree
 * IDs of one level and the wanted blobs' binary IDs are held, never an object per blob.
 */
async function copyTree(
  src: Repository,
  dst: Repository,
  visited: Set<string>,
  root: string,
  progress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const wanted: Wanted = { blobs: new BlobIdSet(), packs: new Set(), missing: null };
  const idBuf = Buffer.alloc(32);
  /** Source packs of the trees the destination lacked: restic's count includes them. */
  const treePacks = new Set<string>();
  let level = [root];
  while (level.length) {
    const next: string[] = [];
    const fresh = level.filter((id) => !visited.has(id) && (visited.add(id), true));
    await mapLimit(fresh, 8, async (treeId) => {
      signal?.throwIfAborted();
      const plain = await src.loadBlob('tree', treeId);
      const nodes = decodeTree(plain);
      if (!(await dst.saveBlob('tree', plain, treeId)).known) {
        const pack = src.index.lookup('tree', treeId)[0]?.packId;
        if (pack) treePacks.add(pack);
      }
      for (const n of nodes) {
        for (const blob of n.content ?? []) {
          if (dst.index.has('data', blob) || !wanted.blobs.add('data', blobIdInto(blob, idBuf))) continue;
          const pack = src.index.lookup('data', blob)[0]?.packId;
          if (pack) wanted.packs.add(pack);
          else wanted.missing ??= blob;
        }
        if (n.type === 'dir' && n.subtree) next.push(n.subtree);
      }
    });
    level = next;
  }
  if (wanted.missing) throw new FormatError(`data blob ${wanted.missing} is not in the source index`);
  await repackBlobs(src, dst, wanted, treePacks, progress, signal);
}

interface PackEntry {
  id: string;
  offset: number;
  length: number;
  uncompressedLength: number;
}

/** The wanted blobs whose first location is `packId`, sorted by offset (taken out of `wanted`). */
function takeFromPack(src: Repository, wanted: BlobIdSet, packId: string): PackEntry[] {
  const view = src.index.packBlobs(packId);
  const out: PackEntry[] = [];
  if (!view) return out;
  const { blobs, entries } = src.index.counts();
  for (let i = 0; i < view.length; i++) {
    const idBytes = view.idBytes(i);
    if (view.type(i) !== 'data' || !wanted.has('data', idBytes)) continue;
    const id = Buffer.from(idBytes.buffer, idBytes.byteOffset, 32).toString('hex');
    // a blob stored twice is read from its first location, as lookup() lists them
    if (entries !== blobs && src.index.lookup('data', id)[0]?.packId !== packId) continue;
    wanted.delete('data', idBytes);
    out.push({ id, offset: view.offset(i), length: view.storedLength(i), uncompressedLength: view.uncompressedLength(i) });
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/**
 * restic's Repack into another repository: read each source pack once (the span holding
 * the wanted blobs), verify every blob and save it in the destination. A pack's blob list
 * exists only while that pack is copied.
 */
async function repackBlobs(
  src: Repository,
  dst: Repository,
  wanted: Wanted,
  treePacks: Set<string>,
  progress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  let total = treePacks.size;
  for (const p of wanted.packs) if (!treePacks.has(p)) total++;
  let done = treePacks.size;
  progress?.(done, total);
  await mapLimit([...wanted.packs], src.memory.packsInFlight(4), async (packId) => {
    signal?.throwIfAborted();
    const list = takeFromPack(src, wanted.blobs, packId);
    if (list.length) await copyPackBlobs(src, dst, packId, list);
    if (!treePacks.has(packId)) progress?.(++done, total);
  });
}

async function copyPackBlobs(src: Repository, dst: Repository, packId: string, list: PackEntry[]): Promise<void> {
  const start = list[0]!.offset;
  let end = start;
  for (const b of list) end = Math.max(end, b.offset + b.length);
  let span: Uint8Array | null;
  try {
    span = await src.backend.load({ type: 'pack', name: packId }, start, end - start);
  } catch {
    span = null; // fall back to blob-by-blob reads, which also try other copies
  }
  for (const b of list) {
    let plain: Uint8Array;
    try {
      if (!span) throw new Error('no span');
      plain = src.openBlob(span.subarray(b.offset - start, b.offset - start + b.length), 'data', b.id, packId, b.uncompressedLength);
    } catch {
      plain = await src.loadBlob('data', b.id);
    }
    await dst.saveBlob('data', plain, b.id);
  }
}
