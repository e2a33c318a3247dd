/**
 * `check --read-data`'s verdict on one downloaded pack: the pack hash, every indexed blob (MAC,
 * decompression, SHA-256), that index entries tile the pack without gaps, and that the pack's own
 * header agrees with the index. Runs on OpenPool's workers and in-process.
 */
import { type PackedBlob, entrySize, parsePackBytes, HEADER_SIZE } from '../format/pack.js';
import { hashId } from '../format/id.js';
import type { MasterKey } from '../crypto/index.js';
import { streamStoredBlob } from '../format/blob-open.js';
import { noteGarbage } from './worker-gc.js';

/** verifyPack's checks on a downloaded pack (`blobs` sorted by offset); runs on OpenPool's workers. */
export async function checkPackBytes(
  key: MasterKey,
  id: string,
  pack: Uint8Array,
  blobs: PackedBlob[],
  size: number,
): Promise<string | null> {
  const errs: string[] = [];
  if (hasGaps(blobs)) errs.push('Index for pack contains gaps / overlapping blobs');
  const hash = hashId(pack);
  let header: PackedBlob[] | null = null;
  let headerSize = 0;
  try {
    ({ blobs: header, headerSize } = await parsePackBytes(key, id, pack));
  } catch (err) {
    errs.push((err as Error).message);
  }
  errs.push(...verifyBlobs(key, id, pack, blobs));
  if (hash !== id) {
    const more = errs.length ? `; ${errs.length} more errors: [${errs.join(', ')}]` : '';
    return `Pack ID does not match, want ${id}, got ${hash}${more}`;
  }
  if (pack.length !== size) errs.push(`pack size ${pack.length} does not match the ${size} bytes predicted by the index`);

  if (!header) return `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]`;
  let indexHeaderSize = HEADER_SIZE;
  for (const b of blobs) indexHeaderSize += entrySize(b);
  if (indexHeaderSize !== headerSize) errs.push(`Pack header size does not match, want ${indexHeaderSize}, got ${headerSize}`);
  const known = new Set(blobs.map(entryKey));
  for (const b of header) {
    if (!known.has(entryKey(b))) errs.push(`Blob ${b.id} is not contained in index or position is incorrect`);
  }
  return errs.length ? `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]` : null;
}

function hasGaps(sorted: PackedBlob[]): boolean {
  let end = 0;
  for (const b of sorted) {
    if (b.offset !== end) return true;
    end = b.offset + b.length;
  }
  return false;
}

const entryKey = (b: PackedBlob): string => `${b.type}/${b.id}/${b.offset}/${b.length}/${b.uncompressedLength}`;

const ignore = (): void => undefined;

/** Decrypt, decompress and hash every indexed blob: data blobs first, then trees, each in pack order. */
function verifyBlobs(key: MasterKey, id: string, pack: Uint8Array, blobs: PackedBlob[]): string[] {
  const errs: string[] = [];
  for (const b of blobs) {
    if (b.offset + b.length > pack.length) errs.push(`blob ${b.id}: lies beyond the end of the pack (${pack.length} bytes)`);
  }
  for (const type of ['data', 'tree'] as const) {
    for (const b of blobs) {
      if (b.type !== type || b.offset + b.length > pack.length) continue;
      try {
        noteGarbage(streamStoredBlob(key, pack.subarray(b.offset, b.offset + b.length), type, b.id, id, b.uncompressedLength, ignore));
      } catch (err) {
        errs.push(`blob ${b.id}: ${(err as Error).message}`);
      }
    }
  }
  return errs;
}
