/**
 * Turning a stored blob back into its plaintext: decrypt (MAC first), decompress when the
 * index says so, and check the SHA-256 against the blob's ID. Shared by the in-process
 * path and the OpenPool workers used by restore and check --read-data.
 */
import crypto from 'node:crypto';
import { type MasterKey, CTR_PIECE, decrypt, decryptStream } from '../crypto/index.js';
import { zstdDecompress } from '../compress/zstd.js';
import { IntegrityError } from '../errors.js';
import { hashBytes } from './id.js';
import type { BlobType } from './pack.js';

/** Largest blob we accept to inflate (trees of huge directories can exceed chunk sizes). */
const MAX_BLOB_SIZE = 1 << 30;

/** How errors name a stored blob. */
const blobWhere = (type: BlobType, id: string, packId: string): string => `${type} blob ${id.slice(0, 16)} in pack ${packId}`;

export function openStoredBlob(
  key: MasterKey,
  stored: Uint8Array,
  type: BlobType,
  id: string,
  packId: string,
  uncompressedLength: number,
): Uint8Array {
  const where = blobWhere(type, id, packId);
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

/**
 * openStoredBlob for readers that look at the plaintext once and keep none of it (check's
 * hashing, restore's writes): an uncompressed blob is decrypted piece by piece after its MAC
 * is verified, each piece handed to `sink` with its offset in the blob. The ID is checked at
 * the end, so a mismatch (which only a wrong key or a forged blob can cause) throws after
 * the pieces were delivered. A compressed blob comes whole, as one piece. Same errors as
 * openStoredBlob; returns the plaintext length.
 */
export function streamStoredBlob(
  key: MasterKey,
  stored: Uint8Array,
  type: BlobType,
  id: string,
  packId: string,
  uncompressedLength: number,
  sink: (piece: Uint8Array, offset: number) => void,
): number {
  if (uncompressedLength) {
    const plain = openStoredBlob(key, stored, type, id, packId, uncompressedLength);
    sink(plain, 0);
    return plain.length;
  }
  const where = blobWhere(type, id, packId);
  let opened: ReturnType<typeof decryptStream>;
  try {
    opened = decryptStream(key, stored);
  } catch (err) {
    throw new IntegrityError(`${where}: ${(err as Error).message}`, { cause: err });
  }
  const { decipher, ciphertext } = opened;
  const hash = crypto.createHash('sha256');
  // Pieces small enough that their buffers recycle within malloc's pools.
  for (let off = 0; off < ciphertext.length; off += CTR_PIECE) {
    const piece = decipher.update(ciphertext.subarray(off, off + CTR_PIECE));
    hash.update(piece);
    sink(piece, off);
  }
  if (!hash.digest().equals(Buffer.from(id, 'hex'))) throw new IntegrityError(`${where}: content does not match its ID`);
  return ciphertext.length;
}

/** One blob inside a span of a pack file read in one go. */
export interface SpanBlob {
  id: string;
  /** Offset of the blob inside the span (not the pack). */
  offset: number;
  length: number;
  uncompressedLength: number;
}
