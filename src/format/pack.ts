/**
 * Pack files: encrypted blobs back to back, then the encrypted header, then the header
 * length (uint32 LE). The header lists each blob's type, stored length, (for compressed
 * blobs) plaintext length, and ID, in file order.
 */
import { FormatError, IntegrityError } from '../errors.js';
import { type MasterKey, decrypt, encrypt, Extension } from '../crypto/index.js';
import { hashBytes } from './id.js';
import { BlobList } from './blob-list.js';
import type { BlobType, PackedBlob } from './blob.js';

export type { BlobType, PackedBlob } from './blob.js';

const ENTRY_SIZE = 1 + 4 + 32;
const COMPRESSED_ENTRY_SIZE = ENTRY_SIZE + 4;
const HEADER_LENGTH_SIZE = 4;
/** Constant part of a pack's overhead: header length field + header IV/MAC. */
export const HEADER_SIZE = HEADER_LENGTH_SIZE + Extension;
export const MAX_HEADER_SIZE = 16 * 1024 * 1024 + HEADER_LENGTH_SIZE;
/** restic reads this many trailing bytes first, hoping the whole header is inside. */
const EAGER_ENTRIES = 15;
const EAGER_READ = EAGER_ENTRIES * COMPRESSED_ENTRY_SIZE + HEADER_SIZE;

export function entrySize(b: { uncompressedLength: number }): number {
  return b.uncompressedLength ? COMPRESSED_ENTRY_SIZE : ENTRY_SIZE;
}

/** The size a pack must have, given its blobs (what `check` compares against). */
export function packSizeFromBlobs(blobs: Iterable<PackedBlob>): number {
  let size = HEADER_SIZE;
  for (const b of blobs) size += b.length + entrySize(b);
  return size;
}

function typeByte(b: PackedBlob): number {
  return (b.type === 'data' ? 0 : 1) + (b.uncompressedLength ? 2 : 0);
}

export function encodeHeader(blobs: PackedBlob[] | BlobList): Uint8Array {
  if (blobs instanceof BlobList) return encodeListHeader(blobs);
  let size = 0;
  for (const b of blobs) size += entrySize(b);
  const out = Buffer.alloc(size);
  let p = 0;
  for (const b of blobs) {
    out[p] = typeByte(b);
    out.writeUInt32LE(b.length, p + 1);
    p += 5;
    if (b.uncompressedLength) {
      out.writeUInt32LE(b.uncompressedLength, p);
      p += 4;
    }
    out.write(b.id, p, 'hex');
    p += 32;
  }
  return out;
}

/** encodeHeader() straight from a compact list (no per-blob objects or hex strings). */
function encodeListHeader(blobs: BlobList): Uint8Array {
  const parts: Uint8Array[] = [];
  forEachHeaderPiece(blobs, (piece) => parts.push(Uint8Array.from(piece)));
  return Buffer.concat(parts);
}

/** Header bytes per piece of forEachHeaderPiece (a whole number of entries fits below it). */
const HEADER_PIECE = 64 * 1024;
let headerScratch: Buffer | null = null;

/**
 * The header of a pack with these blobs, in pieces of up to 64 KiB: `onPiece` gets a view
 * into a reused buffer, valid until it returns. A pack of tens of thousands of small blobs
 * has a header of megabytes, which the pack writer then never holds whole.
 */
export function forEachHeaderPiece(blobs: BlobList, onPiece: (piece: Uint8Array) => void): void {
  const out = (headerScratch ??= Buffer.allocUnsafeSlow(HEADER_PIECE));
  let p = 0;
  for (let i = 0; i < blobs.length; i++) {
    if (p + COMPRESSED_ENTRY_SIZE > out.length) {
      onPiece(out.subarray(0, p));
      p = 0;
    }
    const u = blobs.uncompressedLength(i);
    out[p] = (blobs.type(i) === 'data' ? 0 : 1) + (u ? 2 : 0);
    out.writeUInt32LE(blobs.storedLength(i), p + 1);
    p += 5;
    if (u) {
      out.writeUInt32LE(u, p);
      p += 4;
    }
    out.set(blobs.idBytes(i), p);
    p += 32;
  }
  if (p > 0) onPiece(out.subarray(0, p));
}

export function decodeHeader(plain: Uint8Array): PackedBlob[] {
  const blobs: PackedBlob[] = [];
  forEachHeaderEntry(plain, (type, id, offset, length, uncompressedLength) => {
    blobs.push({ type, id: Buffer.from(id.buffer, id.byteOffset, 32).toString('hex'), offset, length, uncompressedLength });
  });
  return blobs;
}

/**
 * Every entry of a decrypted pack header, in order, without an object per entry (`id` is a
 * view into `plain`). Throws as decodeHeader does on a malformed header.
 */
export function forEachHeaderEntry(
  plain: Uint8Array,
  each: (type: BlobType, id: Uint8Array, offset: number, length: number, uncompressedLength: number) => void,
): void {
  const buf = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  let p = 0;
  let offset = 0;
  while (p < buf.length) {
    const t = buf[p]!;
    if (t > 3) throw new FormatError(`invalid blob type ${t} in pack header`);
    const compressed = t >= 2;
    const need = compressed ? COMPRESSED_ENTRY_SIZE : ENTRY_SIZE;
    if (p + need > buf.length) throw new FormatError('pack header has a truncated entry');
    const length = buf.readUInt32LE(p + 1);
    const uncompressedLength = compressed ? buf.readUInt32LE(p + 5) : 0;
    each(t & 1 ? 'tree' : 'data', buf.subarray(p + need - 32, p + need), offset, length, uncompressedLength);
    offset += length;
    p += need;
  }
}

/** Accumulates encrypted blobs for one pack. */
export class PackWriter {
  private readonly parts: Uint8Array[] = [];
  readonly blobs: PackedBlob[] = [];
  private offset = 0;
  private entries = 0;

  /** Bytes the finished pack will have. */
  get size(): number {
    return this.offset + HEADER_SIZE + this.entries;
  }

  get count(): number {
    return this.blobs.length;
  }

  /** Header bytes so far, for restic's "header would exceed MaxHeaderSize" rule. */
  get headerSize(): number {
    return this.size - this.offset;
  }

  add(type: BlobType, id: string, encrypted: Uint8Array, uncompressedLength: number): PackedBlob {
    const blob: PackedBlob = { type, id, offset: this.offset, length: encrypted.length, uncompressedLength };
    this.parts.push(encrypted);
    this.blobs.push(blob);
    this.offset += encrypted.length;
    this.entries += entrySize(blob);
    return blob;
  }

  /** The complete pack file and its ID (SHA-256 of all bytes). */
  finish(key: MasterKey): { id: string; bytes: Buffer } {
    const header = encrypt(key, encodeHeader(this.blobs));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length, 0);
    const bytes = Buffer.concat([...this.parts, header, len]);
    return { id: hashBytes(bytes).toString('hex'), bytes };
  }
}

/** What reading a pack's header needs from a backend. */
export interface PackReader {
  stat(h: { type: 'pack'; name: string }): Promise<{ size: number }>;
  load(h: { type: 'pack'; name: string }, offset?: number, length?: number): Promise<Uint8Array>;
}

/**
 * Read a pack's header from its tail, as restic does: one read of the last bytes,
 * and a second one only when the header is larger than that.
 */
export async function readPackHeader(
  backend: PackReader,
  key: MasterKey,
  name: string,
  size?: number,
): Promise<{ blobs: PackedBlob[]; headerSize: number }> {
  const packSize = size ?? (await backend.stat({ type: 'pack', name })).size;
  return parsePackTail(key, name, packSize, (off, len) => backend.load({ type: 'pack', name }, off, len));
}

/** Same as readPackHeader, on a pack already in memory. */
export async function parsePackBytes(key: MasterKey, name: string, pack: Uint8Array): Promise<{ blobs: PackedBlob[]; headerSize: number }> {
  const { plain, headerSize } = await packHeaderBytes(key, name, pack);
  return { blobs: decodeHeader(plain), headerSize };
}

/** The decrypted header of a pack in memory (walk it with forEachHeaderEntry). */
export function packHeaderBytes(key: MasterKey, name: string, pack: Uint8Array): Promise<{ plain: Uint8Array; headerSize: number }> {
  return decryptPackTail(key, name, pack.length, async (off, len) => pack.subarray(off, off + len));
}

async function parsePackTail(
  key: MasterKey,
  name: string,
  size: number,
  read: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<{ blobs: PackedBlob[]; headerSize: number }> {
  const { plain, headerSize } = await decryptPackTail(key, name, size, read);
  return { blobs: decodeHeader(plain), headerSize };
}

async function decryptPackTail(
  key: MasterKey,
  name: string,
  size: number,
  read: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<{ plain: Uint8Array; headerSize: number }> {
  const short = name.slice(0, 8);
  if (size < HEADER_LENGTH_SIZE + Extension) throw new FormatError(`pack ${short} is too small (${size} bytes)`);
  const eager = Math.min(size, EAGER_READ);
  let tail = await read(size - eager, eager);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const hlen = dv.getUint32(tail.length - 4, true);
  if (hlen < Extension || hlen > size - HEADER_LENGTH_SIZE || hlen > MAX_HEADER_SIZE - HEADER_LENGTH_SIZE) {
    throw new FormatError(`pack ${short}: invalid header length ${hlen} for a ${size}-byte pack`);
  }
  let header: Uint8Array;
  if (hlen + HEADER_LENGTH_SIZE <= eager) {
    header = tail.subarray(tail.length - 4 - hlen, tail.length - 4);
  } else {
    tail = await read(size - hlen - HEADER_LENGTH_SIZE, hlen);
    header = tail;
  }
  let plain: Uint8Array;
  try {
    plain = decrypt(key, header);
  } catch (err) {
    throw new IntegrityError(`pack ${short}: header cannot be decrypted: ${(err as Error).message}`);
  }
  return { plain, headerSize: hlen + HEADER_LENGTH_SIZE };
}
