/**
 * Turning a blob's plaintext into the bytes stored in a pack: optional zstd compression
 * (v2 only), then encryption. The pack assembler (parallel/pack-assembler.ts) uses the same
 * compression decision.
 */
import { type MasterKey, encrypt } from '../crypto/index.js';
import { type CompressionMode, looksCompressible, zstdCompressTransient } from '../compress/zstd.js';
import type { BlobType } from './blob.js';

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
  const { src, uncompressedLength } = maybeCompress(repoVersion, compression, type, plaintext);
  return { encrypted: encrypt(key, src), uncompressedLength };
}

/** The bytes to encrypt for a blob: its zstd frame when compression applies and helps, else the plaintext. */
export function maybeCompress(
  repoVersion: number,
  compression: CompressionMode,
  type: BlobType,
  plaintext: Uint8Array,
): { src: Uint8Array; uncompressedLength: number } {
  // v2 always compresses trees; data unless compression is off. An empty blob is never
  // marked compressed (uncompressed_length 0 means "not compressed").
  let compress = repoVersion >= 2 && plaintext.length > 0 && (type === 'tree' || compression !== 'off');
  // Incompressible data is stored as is: the format allows it and it saves time and space.
  if (compress && type === 'data' && compression === 'auto' && !looksCompressible(plaintext)) compress = false;
  if (compress) {
    // A view into zstd's heap: encrypted (copied) by the caller before the next compression.
    const z = zstdCompressTransient(plaintext, compression === 'max' ? 'max' : 'auto');
    if (z.length < plaintext.length) return { src: z, uncompressedLength: plaintext.length };
  }
  return { src: plaintext, uncompressedLength: 0 };
}
