/**
 * `check --read-data` for one pack: download it whole, then verify it in-process or on the
 * pool's workers (parallel/read-pack.ts).
 */
import type { Repository } from '../repository/repository.js';
import type { PackedBlob } from '../format/pack.js';
import type { OpenPool } from '../parallel/open-pool.js';
import { checkPackBytes, packEntries } from '../parallel/read-pack.js';
import type { BlobsView } from '../format/blob-list.js';
import { type BufferRing, loadRecycled } from '../parallel/buffer-ring.js';
import { isFatal } from '../errors.js';

/**
 * One line describing what is wrong with the pack, or null when it is sound. `indexed` holds
 * every index entry for the pack (objects, or the index's own view of them), so it stands for
 * the index when matching the pack header.
 */
export async function verifyPack(
  repo: Repository,
  id: string,
  indexed: PackedBlob[] | BlobsView,
  size: number,
  pool?: OpenPool,
  ring?: BufferRing,
  /** The pack, or its download, when it was started ahead. */
  downloaded?: Uint8Array | Promise<Uint8Array> | null,
): Promise<string | null> {
  if (!indexed.length) return `pack ${id} is empty or not indexed`;
  let pack: Uint8Array;
  try {
    const h = { type: 'pack' as const, name: id };
    if (downloaded) pack = await downloaded;
    else pack = ring ? await loadRecycled(repo.backend, h, 0, 0, ring) : await repo.backend.load(h);
  } catch (err) {
    if (isFatal(err)) throw err; // the repository is gone: one error, not one per pack
    return `pack ${id} failed to download: ${(err as Error).message}`;
  }
  const blobs = packEntries(indexed);
  const giveBack = ring?.giveBackFor(pack);
  if (pool) return pool.checkPack(id, pack, blobs, size, giveBack);
  const problem = await checkPackBytes(repo.key, id, pack, blobs, size);
  giveBack?.(pack.buffer as ArrayBuffer);
  return problem;
}
