/**
 * restic ≥ 0.16's `repair packs`: salvage every blob of the named (damaged) packs that
 * still decrypts and matches its ID into new packs, drop the packs from the index and
 * delete them. Blobs that are lost stay lost; `repair snapshots` then removes them from
 * the snapshots. The caller holds an exclusive lock.
 */
import type { Repository } from '../repository/repository.js';
import type { PackedBlob } from '../format/blob.js';
import { decodeIndex, type IndexPack } from '../format/index-file.js';
import { parsePackBytes } from '../format/pack.js';
import { deleteIndexFiles, writeIndexFiles } from './index-writer.js';

export interface RepairPacksOptions {
  /** Progress lines in restic's words. */
  log?: (line: string) => void;
  /** Blobs and packs that could not be read. */
  warn?: (line: string) => void;
  /** Each damaged pack's bytes as read (the CLI keeps a copy, as restic does). */
  onPackLoaded?: (id: string, bytes: Uint8Array) => void | Promise<void>;
}

export interface RepairPacksResult {
  /** Blobs stored again from the damaged packs. */
  salvaged: number;
  /** Blobs that could not be read back. */
  lost: number;
}

export async function repairPacks(repo: Repository, ids: string[], opts: RepairPacksOptions = {}): Promise<RepairPacksResult> {
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? (() => {});
  const damaged = new Set(ids);
  await repo.loadIndex();
  const oldIndexes: string[] = [];
  for await (const id of repo.listIds('index')) oldIndexes.push(id);
  const loaded = new Map<string, Uint8Array>();
  for (const id of ids) {
    try {
      const bytes = await repo.backend.load({ type: 'pack', name: id });
      loaded.set(id, bytes);
      await opts.onPackLoaded?.(id, bytes);
    } catch (err) {
      warn(`will remove packfile ${id} due to failed download: ${(err as Error).message}`);
    }
  }
  log('salvaging intact data from specified pack files');
  const candidates = new Map<string, PackedBlob[]>();
  for (const [id, bytes] of loaded) candidates.set(id, await blobsOfPack(repo, id, bytes, warn));
  // Forget the damaged packs first, so their blobs count as new and are stored again.
  const keep = [...repo.index.allPacks()].filter((p) => !damaged.has(p.id));
  repo.index.clear();
  repo.index.addIndex(keep);
  const result: RepairPacksResult = { salvaged: 0, lost: 0 };
  for (const [id, blobs] of candidates) {
    const bytes = loaded.get(id)!;
    for (const b of blobs) {
      let plain: Uint8Array;
      try {
        plain = repo.openBlob(bytes.subarray(b.offset, b.offset + b.length), b.type, b.id, id, b.uncompressedLength);
      } catch (err) {
        warn(`failed to load blob ${b.id}: ${(err as Error).message}`);
        result.lost++;
        continue;
      }
      await repo.saveBlob(b.type, plain, b.id);
      result.salvaged++;
    }
  }
  await repo.flush();
  await dropFromIndexFiles(repo, oldIndexes, damaged);
  log('removing salvaged pack files');
  for (const id of ids) {
    try {
      await repo.backend.remove({ type: 'pack', name: id });
    } catch (err) {
      warn(`failed to delete pack file ${id}: ${(err as Error).message}`);
    }
  }
  return result;
}

/** The index's entries for the pack and those of its own header (when readable), once each. */
async function blobsOfPack(repo: Repository, id: string, bytes: Uint8Array, warn: (l: string) => void): Promise<PackedBlob[]> {
  const seen = new Map<string, PackedBlob>();
  const add = (b: PackedBlob) => seen.set(`${b.type}:${b.id}:${b.offset}`, b);
  const indexed = repo.index.packContents(id) ?? [];
  indexed.forEach(add);
  try {
    const { blobs } = await parsePackBytes(repo.key, id, bytes);
    if (indexed.length && blobs.length !== indexed.length) warn(`repairing incomplete index entry for pack ${id}`);
    blobs.forEach(add);
  } catch {
    // a damaged header: the index entries are all there is
  }
  if (!seen.size) warn(`no blobs found for pack ${id}`);
  return [...seen.values()].filter((b) => b.offset + b.length <= bytes.length);
}

/** Index files that list a damaged pack are replaced by files without it. */
async function dropFromIndexFiles(repo: Repository, indexIds: string[], damaged: Set<string>): Promise<void> {
  for (const id of indexIds) {
    const packs: IndexPack[] = decodeIndex(await repo.loadUnpacked('index', id), id).packs;
    if (!packs.some((p) => damaged.has(p.id))) continue;
    await writeIndexFiles(
      repo,
      packs.filter((p) => !damaged.has(p.id)),
      [id],
    );
    await deleteIndexFiles(repo, [id]);
  }
}
