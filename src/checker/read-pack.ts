/**
 * `check --read-data` for one pack: download it whole, then verify the pack hash, every
 * indexed blob (MAC, decompression, SHA-256), that index entries tile the pack without gaps,
 * and that the pack's own header agrees with the index.
 */
import type { Repository } from '../repo/repository.js';
import type { MasterIndex } from '../repo/master-index.js';
import { type BlobType, type PackedBlob, entrySize, parsePackBytes, HEADER_SIZE } from '../repo/pack.js';
import { hashId } from '../repo/id.js';
import type { OpenPool } from '../repo/open-pool.js';
import type { SpanBlob } from '../repo/blob-open.js';

/** One line describing what is wrong with the pack, or null when it is sound. */
export async function verifyPack(
  repo: Repository,
  id: string,
  indexed: PackedBlob[],
  size: number,
  index: MasterIndex,
  pool?: OpenPool,
): Promise<string | null> {
  if (!indexed.length) return `pack ${id} is empty or not indexed`;
  const blobs = [...indexed].sort((a, b) => a.offset - b.offset);
  const errs: string[] = [];
  let end = 0;
  let contiguous = true;
  for (const b of blobs) {
    if (b.offset !== end) contiguous = false;
    end = b.offset + b.length;
  }
  if (!contiguous) errs.push('Index for pack contains gaps / overlapping blobs');

  let pack: Uint8Array;
  try {
    pack = await repo.backend.load({ type: 'pack', name: id });
  } catch (err) {
    return `pack ${id} failed to download: ${(err as Error).message}`;
  }
  const hash = hashId(pack);
  const packLength = pack.length;
  // Header first: the pack buffer may be handed to a worker thread below.
  let header: PackedBlob[] | null = null;
  let headerSize = 0;
  try {
    ({ blobs: header, headerSize } = await parsePackBytes(repo.key, id, pack));
  } catch (err) {
    errs.push((err as Error).message);
  }
  errs.push(...(await verifyBlobs(repo, id, pack, blobs, pool)));
  if (hash !== id) {
    const more = errs.length ? `; ${errs.length} more errors: [${errs.join(', ')}]` : '';
    return `Pack ID does not match, want ${id}, got ${hash}${more}`;
  }
  if (packLength !== size) errs.push(`pack size ${packLength} does not match the ${size} bytes predicted by the index`);

  if (!header) return `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]`;
  let indexHeaderSize = HEADER_SIZE;
  for (const b of blobs) indexHeaderSize += entrySize(b);
  if (indexHeaderSize !== headerSize) errs.push(`Pack header size does not match, want ${indexHeaderSize}, got ${headerSize}`);
  for (const b of header) {
    const same = index
      .lookup(b.type, b.id)
      .some((l) => l.packId === id && l.offset === b.offset && l.length === b.length && l.uncompressedLength === b.uncompressedLength);
    if (!same) errs.push(`Blob ${b.id} is not contained in index or position is incorrect`);
  }
  return errs.length ? `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]` : null;
}

/** Decrypt, decompress and hash every indexed blob, on worker threads when a pool is given. */
async function verifyBlobs(repo: Repository, id: string, pack: Uint8Array, blobs: PackedBlob[], pool?: OpenPool): Promise<string[]> {
  const errs: string[] = [];
  const groups: Record<BlobType, SpanBlob[]> = { data: [], tree: [] };
  for (const b of blobs) {
    if (b.offset + b.length > pack.length) errs.push(`blob ${b.id}: lies beyond the end of the pack (${pack.length} bytes)`);
    else groups[b.type].push({ id: b.id, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength });
  }
  const types = (['data', 'tree'] as const).filter((t) => groups[t].length);
  const results = await Promise.all(
    types.map((type, i) => {
      // The last group may take the buffer itself; earlier ones get a copy.
      const span = i === types.length - 1 ? pack : new Uint8Array(pack);
      if (pool) return pool.open(id, type, span, groups[type]);
      return groups[type].map((b) => {
        try {
          repo.openBlob(span.subarray(b.offset, b.offset + b.length), type, b.id, id, b.uncompressedLength);
          return new Uint8Array(0);
        } catch (err) {
          return { error: (err as Error).message };
        }
      });
    }),
  );
  types.forEach((type, i) => {
    results[i]!.forEach((r, j) => {
      if (!(r instanceof Uint8Array)) errs.push(`blob ${groups[type][j]!.id}: ${r.error}`);
    });
  });
  return errs;
}
