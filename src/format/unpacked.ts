/**
 * Framing of "unpacked" files (index, snapshot, lock). In v2 repositories the plaintext
 * is a version byte followed by data: 0x02 = one zstd frame; '{' or '[' = plain JSON
 * kept for files written by v1-era code. v1 repositories never compress.
 */
import { FormatError } from '../errors.js';
import { zstdCompressTransient, zstdCompressWritten, zstdDecompress, zstdDecompressLean } from '../compress/zstd.js';

const ZSTD_FORMAT = 0x02;
/** Unpacked JSON files beyond this size are refused rather than inflated. */
export const MAX_UNPACKED_SIZE = 1 << 30;

export function frameUnpacked(json: Uint8Array, repoVersion: number): Uint8Array {
  if (repoVersion < 2) return json;
  return framed(zstdCompressTransient(json, 'auto'));
}

/**
 * frameUnpacked() of the JSON that `write` puts into the buffer it is given (at most `bound`
 * bytes; it returns how many): in v2 that is zstd's input buffer, so a big index file's
 * JSON is never a buffer of its own.
 */
export function frameUnpackedWritten(bound: number, write: (dst: Uint8Array) => number, repoVersion: number): Uint8Array {
  if (repoVersion >= 2) return framed(zstdCompressWritten(bound, write, 'auto'));
  const out = Buffer.allocUnsafeSlow(bound);
  return out.subarray(0, write(out));
}

/** The format byte, then the zstd frame (copied out of zstd's transient buffer). */
function framed(z: Uint8Array): Uint8Array {
  const out = new Uint8Array(z.length + 1);
  out[0] = ZSTD_FORMAT;
  out.set(z, 1);
  return out;
}

/** The zstd frame of a compressed unpacked file (v2, format byte 0x02), else null. */
export function unpackedFrame(plain: Uint8Array, repoVersion: number): Uint8Array | null {
  return repoVersion >= 2 && plain[0] === ZSTD_FORMAT ? plain.subarray(1) : null;
}

/** `lean`: decompress outside the WASM heap (zstdDecompressLean), for big files on a tight memory budget. */
export function unframeUnpacked(plain: Uint8Array, repoVersion: number, lean = false): Uint8Array {
  if (repoVersion < 2 || plain.length === 0) return plain;
  const first = plain[0];
  if (first === 0x7b || first === 0x5b) return plain;
  if (first === ZSTD_FORMAT) return (lean ? zstdDecompressLean : zstdDecompress)(plain.subarray(1), MAX_UNPACKED_SIZE);
  throw new FormatError(`not supported encoding format ${first}`);
}
