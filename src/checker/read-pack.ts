/**
 * `check --read-data` for one pack: download it whole, then verify the pack hash, every
 * indexed blob (MAC, decompression, SHA-256), that index entries tile the pack without gaps,
 * and that the pack's own header agrees with the index.
 */
import type { Repository } from '../repo/repository.js';
import type { MasterIndex } from '../repo/master-index.js';
import { type PackedBlob, entrySize, parsePackBytes, HEADER_SIZE } from '../repo/pack.js';
import { hashId } from '../repo/id.js';

/** One line describing what is wrong with the pack, or null when it is sound. */
export async function verifyPack(repo: Repository, id: string, indexed: PackedBlob[], size: number, index: MasterIndex): Promise<string | null> {
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
  for (const b of blobs) {
    if (b.offset + b.length > pack.length) {
      errs.push(`blob ${b.id}: lies beyond the end of the pack (${pack.length} bytes)`);
      continue;
    }
    try {
      repo.openBlob(pack.subarray(b.offset, b.offset + b.length), b.type, b.id, id, b.uncompressedLength);
    } catch (err) {
      errs.push(`blob ${b.id}: ${(err as Error).message}`);
    }
  }
  const hash = hashId(pack);
  if (hash !== id) {
    const more = errs.length ? `; ${errs.length} more errors: [${errs.join(', ')}]` : '';
    return `Pack ID does not match, want ${id}, got ${hash}${more}`;
  }
  if (pack.length !== size) errs.push(`pack size ${pack.length} does not match the ${size} bytes predicted by the index`);

  let header: PackedBlob[];
  let headerSize: number;
  try {
    ({ blobs: header, headerSize } = await parsePackBytes(repo.key, id, pack));
  } catch (err) {
    errs.push((err as Error).message);
    return `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]`;
  }
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
