/**
 * Turning a blob's plaintext into the bytes stored in a pack: optional zstd compression
 * (v2 only), then encryption. Shared by the in-process path and the worker threads.
 */
import { type MasterKey, encrypt } from '../crypto/index.js';
import { type CompressionMode, looksCompressible, zstdCompress } from '../compress/zstd.js';
import type { BlobType } from './pack.js';

export interface EncodedBlob {
  /** IV || ciphertext || MAC of the (possibly compressed) plaintext. */
  encrypted: Uint8Array;
  /** Plaintext length when compressed, 0 when stored uncompressed. */
  uncompressedLength: number;
}

export function encodeBlob(
  key: MasterKey,
  repoVersion: number,
  compression: CompressionMode,
  type: BlobType,
  plaintext: Uint8Array,
): EncodedBlob {
  // v2 always compresses trees; data unless compression is off. An empty blob is never
  // marked compressed (uncompressed_length 0 means "not compressed").
  let compress = repoVersion >= 2 && plaintext.length > 0 && (type === 'tree' || compression !== 'off');
  // Incompressible data is stored as is: the format allows it and it saves time and space.
  if (compress && type === 'data' && compression === 'auto' && !looksCompressible(plaintext)) compress = false;
  if (compress) {
    const z = zstdCompress(plaintext, compression === 'max' ? 'max' : 'auto');
    if (z.length < plaintext.length) return { encrypted: encrypt(key, z), uncompressedLength: plaintext.length };
  }
  return { encrypted: encrypt(key, plaintext), uncompressedLength: 0 };
}
