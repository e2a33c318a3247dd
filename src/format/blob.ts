/** A blob as a pack header and an index file list it. */
export type BlobType = 'data' | 'tree';

/** A blob's place in a pack: type, ID, offset, stored and uncompressed length. */
export interface PackedBlob {
  type: BlobType;
  /** Blob ID (hex): SHA-256 of the uncompressed plaintext. */
  id: string;
  /** Offset of the encrypted blob in the pack. */
  offset: number;
  /** Stored length (encrypted, incl. 32 bytes of IV and MAC). */
  length: number;
  /** Plaintext length for compressed blobs; 0 means "not compressed". */
  uncompressedLength: number;
}
