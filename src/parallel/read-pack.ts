/**
 * `check --read-data`'s verdict on one downloaded pack: the pack hash, every indexed blob (MAC,
 * decompression, SHA-256), that index entries tile the pack without gaps, and that the pack's own
 * header agrees with the index. Runs on OpenPool's workers and in-process.
 */
import { type BlobType, type PackedBlob, entrySize, forEachHeaderEntry, packHeaderBytes, HEADER_SIZE } from '../format/pack.js';
import type { BlobsView } from '../format/blob-list.js';
import { hashId } from '../format/id.js';
import type { MasterKey } from '../crypto/index.js';
import { streamStoredBlob } from '../format/blob-open.js';
import { noteGarbage } from './worker-gc.js';

/**
 * A pack's index entries sorted by offset, as typed arrays: posted to a worker as a few
 * buffers instead of one object per blob (a pack may hold 100,000 small blobs).
 */
export interface PackEntries {
  count: number;
  /** 32 bytes per entry. */
  ids: Uint8Array;
  /** 1 for a tree blob. */
  trees: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  uncompressed: Uint32Array;
}

/** PackEntries from an index's view of a pack (or a blob list), sorted by offset. */
export function packEntries(blobs: BlobsView | PackedBlob[]): PackEntries {
  const view: BlobsView = Array.isArray(blobs) ? new BlobArrayView(blobs) : blobs;
  const n = view.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => view.offset(a) - view.offset(b) || a - b);
  const e: PackEntries = {
    count: n,
    ids: new Uint8Array(n * 32),
    trees: new Uint8Array(n),
    offsets: new Uint32Array(n),
    lengths: new Uint32Array(n),
    uncompressed: new Uint32Array(n),
  };
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    e.ids.set(view.idBytes(i), k * 32);
    e.trees[k] = view.type(i) === 'tree' ? 1 : 0;
    e.offsets[k] = view.offset(i);
    e.lengths[k] = view.storedLength(i);
    e.uncompressed[k] = view.uncompressedLength(i);
  }
  return e;
}

/** A BlobsView over PackedBlob objects. */
class BlobArrayView implements BlobsView {
  private readonly id = Buffer.alloc(32);
  constructor(private readonly blobs: PackedBlob[]) {}
  get length(): number {
    return this.blobs.length;
  }
  type(i: number): BlobType {
    return this.blobs[i]!.type;
  }
  idBytes(i: number): Uint8Array {
    this.id.write(this.blobs[i]!.id, 'hex');
    return this.id;
  }
  offset(i: number): number {
    return this.blobs[i]!.offset;
  }
  storedLength(i: number): number {
    return this.blobs[i]!.length;
  }
  uncompressedLength(i: number): number {
    return this.blobs[i]!.uncompressedLength;
  }
}

const hexAt = (e: PackEntries, k: number): string => Buffer.from(e.ids.buffer, e.ids.byteOffset + k * 32, 32).toString('hex');

/** verifyPack's checks on a downloaded pack; runs on OpenPool's workers. */
export async function checkPackBytes(
  key: MasterKey,
  id: string,
  pack: Uint8Array,
  blobs: PackEntries,
  size: number,
): Promise<string | null> {
  const errs: string[] = [];
  if (hasGaps(blobs)) errs.push('Index for pack contains gaps / overlapping blobs');
  const hash = hashId(pack);
  // The header is matched entry by entry as it is decoded: no object per entry.
  let headerSize = -1;
  const notIndexed: string[] = [];
  try {
    const h = await packHeaderBytes(key, id, pack);
    forEachHeaderEntry(h.plain, (type, blobId, offset, length, uncompressedLength) => {
      if (!indexed(blobs, type, blobId, offset, length, uncompressedLength)) notIndexed.push(Buffer.from(blobId).toString('hex'));
    });
    headerSize = h.headerSize;
  } catch (err) {
    errs.push((err as Error).message);
  }
  errs.push(...verifyBlobs(key, id, pack, blobs));
  if (hash !== id) {
    const more = errs.length ? `; ${errs.length} more errors: [${errs.join(', ')}]` : '';
    return `Pack ID does not match, want ${id}, got ${hash}${more}`;
  }
  if (pack.length !== size) errs.push(`pack size ${pack.length} does not match the ${size} bytes predicted by the index`);

  if (headerSize < 0) return `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]`;
  let indexHeaderSize = HEADER_SIZE;
  for (let k = 0; k < blobs.count; k++) indexHeaderSize += entrySize({ uncompressedLength: blobs.uncompressed[k]! });
  if (indexHeaderSize !== headerSize) errs.push(`Pack header size does not match, want ${indexHeaderSize}, got ${headerSize}`);
  for (const blobId of notIndexed) errs.push(`Blob ${blobId} is not contained in index or position is incorrect`);
  return errs.length ? `pack ${id} contains ${errs.length} errors: [${errs.join(', ')}]` : null;
}

function hasGaps(e: PackEntries): boolean {
  let end = 0;
  for (let k = 0; k < e.count; k++) {
    if (e.offsets[k] !== end) return true;
    end = e.offsets[k]! + e.lengths[k]!;
  }
  return false;
}

/** Whether the index has an entry equal to this header entry (entries sorted by offset). */
function indexed(e: PackEntries, type: BlobType, id: Uint8Array, offset: number, length: number, uncompressedLength: number): boolean {
  let lo = 0;
  let hi = e.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (e.offsets[mid]! < offset) lo = mid + 1;
    else hi = mid;
  }
  const tree = type === 'tree' ? 1 : 0;
  for (let k = lo; k < e.count && e.offsets[k] === offset; k++) {
    if (e.trees[k] !== tree || e.lengths[k] !== length || e.uncompressed[k] !== uncompressedLength) continue;
    if (Buffer.compare(Buffer.from(e.ids.buffer, e.ids.byteOffset + k * 32, 32), id) === 0) return true;
  }
  return false;
}

const ignore = (): void => undefined;

/** Decrypt, decompress and hash every indexed blob: data blobs first, then trees, each in pack order. */
function verifyBlobs(key: MasterKey, id: string, pack: Uint8Array, e: PackEntries): string[] {
  const errs: string[] = [];
  for (let k = 0; k < e.count; k++) {
    if (e.offsets[k]! + e.lengths[k]! > pack.length)
      errs.push(`blob ${hexAt(e, k)}: lies beyond the end of the pack (${pack.length} bytes)`);
  }
  for (const tree of [0, 1]) {
    const type = tree ? 'tree' : 'data';
    for (let k = 0; k < e.count; k++) {
      const start = e.offsets[k]!;
      const end = start + e.lengths[k]!;
      if (e.trees[k] !== tree || end > pack.length) continue;
      const blobId = hexAt(e, k);
      try {
        noteGarbage(streamStoredBlob(key, pack.subarray(start, end), type, blobId, id, e.uncompressed[k]!, ignore));
      } catch (err) {
        errs.push(`blob ${blobId}: ${(err as Error).message}`);
      }
    }
  }
  return errs;
}
