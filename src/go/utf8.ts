/** Go's unicode/utf8 rules on raw bytes (what encoding/json and strconv see in a Go string). */

/**
 * Length of the valid UTF-8 sequence starting at `i`, or 0 if Go's utf8.DecodeRune would
 * return (RuneError, 1) there (overlong forms, surrogates, > U+10FFFF, truncation).
 */
export function utf8SeqLen(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  if (b0 < 0x80) return 1;
  const n = b.length;
  if (b0 < 0xc2) return 0;
  if (b0 < 0xe0) return i + 1 < n && (b[i + 1]! & 0xc0) === 0x80 ? 2 : 0;
  if (b0 < 0xf0) {
    if (i + 2 >= n) return 0;
    const b1 = b[i + 1]!;
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return b1 >= lo && b1 <= hi && (b[i + 2]! & 0xc0) === 0x80 ? 3 : 0;
  }
  if (b0 < 0xf5) {
    if (i + 3 >= n) return 0;
    const b1 = b[i + 1]!;
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return b1 >= lo && b1 <= hi && (b[i + 2]! & 0xc0) === 0x80 && (b[i + 3]! & 0xc0) === 0x80 ? 4 : 0;
  }
  return 0;
}

/** True if `b` is valid UTF-8 by Go's rules (utf8.Valid). */
export function isValidUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length;) {
    if (b[i]! < 0x80) {
      i++;
      continue;
    }
    const len = utf8SeqLen(b, i);
    if (len === 0) return false;
    i += len;
  }
  return true;
}

/** The code point of a valid `len`-byte sequence at `i` (len from utf8SeqLen). */
export function decodeCodePoint(b: Uint8Array, i: number, len: number): number {
  if (len === 2) return ((b[i]! & 0x1f) << 6) | (b[i + 1]! & 0x3f);
  if (len === 3) return ((b[i]! & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
  return ((b[i]! & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
}

/** The same bytes as a Buffer (no copy). */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The same bytes as a plain Uint8Array (no copy). */
export function asUint8Array(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
