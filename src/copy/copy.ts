/**
 * `copy` as a library (restic 0.14's cmd_copy): copy snapshots the destination does not
 * already hold, with only the blobs it is missing. Tree blobs are copied as stored bytes
 * (never re-serialized); data blobs are decrypted, verified and re-encrypted with the
 * destination's key and compression.
 */
import type { BlobType } from '../format/pack.js';
import type { Repository } from '../repository/repository.js';
import { compareGoTimes, goTimeString } from '../go/time.js';
import { mapLimit } from '../parallel/map-limit.js';
import type { Snapshot } from '../format/snapshot.js';
import { decodeTree } from '../format/tree.js';
import { FormatError } from '../errors.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { type SnapshotSelector, hasTags, loadSnapshots, selectorMatches } from '../forget/tags.js';

export interface CopyOptions {
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
export async function copySnapshots(src: Repository, dst: Repository, opts: CopyOptions = {}): Promise<CopyResult> {
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
    await copyTree(src, dst, visitedTrees, snapshot.tree, opts.onProgress);
    // the index is written before the snapshot that needs it
    await dst.flush();
    const out: Snapshot = { ...snapshot, parent: undefined, original: snapshot.original ?? id };
    const newId = await dst.saveSnapshot(out);
    log(`snapshot ${newId.slice(0, 8)} saved`);
    result.snapshots.push({ sourceId: id, destinationId: newId, skipped: false });
  }
  result.blobs = dst.added.dataBlobs - before.dataBlobs + dst.added.treeBlobs - before.treeBlobs;
  result.bytes = dst.added.data - before.data + dst.added.tree - before.tree;
  return result;
}

/**
 * Walk the trees under `root` (each at most once) and copy every blob the destination lacks.
 * Trees are saved as they are read (already verified), so each is downloaded once.
 */
async function copyTree(
  src: Repository,
  dst: Repository,
  visited: Set<string>,
  root: string,
  progress?: (done: number, total: number) => void,
): Promise<void> {
  const wanted = new Map<string, { type: BlobType; id: string }>();
  /** Source packs of the trees the destination lacked: restic's count includes them. */
  const treePacks = new Set<string>();
  let level = [root];
  while (level.length) {
    const next: string[] = [];
    const fresh = level.filter((id) => !visited.has(id) && (visited.add(id), true));
    await mapLimit(fresh, 8, async (treeId) => {
      const plain = await src.loadBlob('tree', treeId);
      const nodes = decodeTree(plain);
      if (!(await dst.saveBlob('tree', plain, treeId)).known) {
        const pack = src.index.lookup('tree', treeId)[0]?.packId;
        if (pack) treePacks.add(pack);
      }
      for (const n of nodes) {
        for (const blob of n.content ?? []) if (!dst.index.has('data', blob)) wanted.set(blob, { type: 'data', id: blob });
        if (n.type === 'dir' && n.subtree) next.push(n.subtree);
      }
    });
    level = next;
  }
  await repackBlobs(src, dst, [...wanted.values()], treePacks, progress);
}

/**
 * restic's Repack into another repository: read each source pack once (the span holding
 * the wanted blobs), verify every blob and save it in the destination.
 */
async function repackBlobs(
  src: Repository,
  dst: Repository,
  blobs: Array<{ type: BlobType; id: string }>,
  treePacks: Set<string>,
  progress?: (done: number, total: number) => void,
): Promise<void> {
  const byPack = new Map<string, Array<{ type: BlobType; id: string; offset: number; length: number; uncompressedLength: number }>>();
  for (const b of blobs) {
    const loc = src.index.lookup(b.type, b.id)[0];
    if (!loc) throw new FormatError(`${b.type} blob ${b.id} is not in the source index`);
    const list = byPack.get(loc.packId) ?? [];
    list.push({ ...b, offset: loc.offset, length: loc.length, uncompressedLength: loc.uncompressedLength });
    byPack.set(loc.packId, list);
  }
  const total = new Set([...treePacks, ...byPack.keys()]).size;
  let done = treePacks.size;
  progress?.(done, total);
  await mapLimit([...byPack], 4, async ([packId, list]) => {
    list.sort((a, b) => a.offset - b.offset);
    const start = list[0]!.offset;
    const end = Math.max(...list.map((b) => b.offset + b.length));
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
        plain = src.openBlob(span.subarray(b.offset - start, b.offset - start + b.length), b.type, b.id, packId, b.uncompressedLength);
      } catch {
        plain = await src.loadBlob(b.type, b.id);
      }
      await dst.saveBlob(b.type, plain, b.id);
    }
    if (!treePacks.has(packId)) progress?.(++done, total);
  });
}
