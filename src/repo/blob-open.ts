/**
 * Turning a stored blob back into its plaintext: decrypt (MAC first), decompress when the
 * index says so, and check the SHA-256 against the blob's ID. Shared by the in-process
 * path and the open workers used by restore.
 */
import { type MasterKey, decrypt } from '../crypto/index.js';
import { zstdDecompress } from '../compress/zstd.js';
import { IntegrityError } from '../errors.js';
import { hashBytes } from './id.js';
import type { BlobType } from './pack.js';

/** Largest blob we accept to inflate (trees of huge directories can exceed chunk sizes). */
export const MAX_BLOB_SIZE = 1 << 30;

export function openStoredBlob(
  key: MasterKey,
  stored: Uint8Array,
  type: BlobType,
  id: string,
  packId: string,
  uncompressedLength: number,
): Uint8Array {
  const where = `${type} blob ${id.slice(0, 16)} in pack ${packId}`;
  let plain: Uint8Array;
  try {
    plain = decrypt(key, stored);
    if (uncompressedLength) plain = zstdDecompress(plain, Math.min(MAX_BLOB_SIZE, uncompressedLength), uncompressedLength);
  } catch (err) {
    throw new IntegrityError(`${where}: ${(err as Error).message}`, { cause: err });
  }
  if (uncompressedLength && plain.length !== uncompressedLength) {
    throw new IntegrityError(`${where}: decompressed to ${plain.length} bytes, index says ${uncompressedLength}`);
  }
  if (!hashBytes(plain).equals(Buffer.from(id, 'hex'))) throw new IntegrityError(`${where}: content does not match its ID`);
  return plain;
}

/** One blob inside a span of a pack file read in one go. */
export interface SpanBlob {
  id: string;
  /** Offset of the blob inside the span (not the pack). */
  offset: number;
  length: number;
  uncompressedLength: number;
}

/** Plaintext of each blob, or the message of the error that blob failed with. */
export type OpenResult = Uint8Array | { error: string };

export function openSpan(key: MasterKey, packId: string, type: BlobType, span: Uint8Array, blobs: SpanBlob[]): OpenResult[] {
  return blobs.map((b) => {
    try {
      return openStoredBlob(key, span.subarray(b.offset, b.offset + b.length), type, b.id, packId, b.uncompressedLength);
    } catch (err) {
      return { error: (err as Error).message };
    }
  });
}
