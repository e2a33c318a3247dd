/**
 * Index files (`index/<id>`): which blobs live in which pack at which offset.
 * restic loads every index file; `supersedes` is informational only.
 */
import { FormatError } from '../errors.js';
import type { BlobType, PackedBlob } from './pack.js';
import { isId } from './id.js';
import { type BlobsView, blobIdInto } from './blob-list.js';

/** restic starts a new index file at this many blobs (indexMaxBlobs). */
export const INDEX_MAX_BLOBS = 50_000;

export interface IndexPack {
  id: string;
  blobs: PackedBlob[];
}

export interface IndexFile {
  supersedes: string[];
  packs: IndexPack[];
  /** Pre-0.7 array format (no supersedes). */
  legacy?: boolean;
}

/** An index file to write: pack blobs as objects or as a compact list. */
export interface IndexFileToWrite {
  supersedes: string[];
  packs: Array<{ id: string; blobs: PackedBlob[] | BlobsView }>;
}

/** Longest JSON of one blob entry, separator included. */
const MAX_BLOB_JSON = '{"id":"","type":"data","offset":,"length":,"uncompressed_length":},'.length + 64 + 3 * 10;
const MAX_PACK_JSON = '{"id":"","blobs":[]},'.length + 64;

/** Upper bound of an index file's JSON size (for writeIndexJson's buffer). */
export function indexJsonBound(idx: IndexFileToWrite): number {
  let bound = 32 + idx.supersedes.length * 67;
  for (const p of idx.packs) bound += MAX_PACK_JSON + p.blobs.length * MAX_BLOB_JSON;
  return bound;
}

/** JSON as restic's json.Encoder writes it: compact, trailing newline. */
export function encodeIndex(idx: IndexFileToWrite): Uint8Array {
  const out = Buffer.allocUnsafeSlow(indexJsonBound(idx));
  return out.subarray(0, writeIndexJson(idx, out));
}

/**
 * encodeIndex() into `out` (at least indexJsonBound() bytes); returns the length. Written
 * byte by byte: an index of 50,000+ blobs as template strings cost ~100 MiB of JS heap.
 */
export function writeIndexJson(idx: IndexFileToWrite, out: Uint8Array): number {
  const w = new JsonWriter(out);
  w.ascii('{');
  if (idx.supersedes.length) {
    w.ascii('"supersedes":[');
    idx.supersedes.forEach((s, i) => {
      if (i) w.ascii(',');
      w.ascii(`"${s}"`);
    });
    w.ascii('],');
  }
  w.ascii('"packs":[');
  idx.packs.forEach((p, i) => {
    if (i) w.ascii(',');
    w.ascii(`{"id":"${p.id}","blobs":[`);
    const b = p.blobs;
    if (!Array.isArray(b)) {
      for (let k = 0; k < b.length; k++) w.blob(k > 0, b.idBytes(k), b.type(k), b.offset(k), b.storedLength(k), b.uncompressedLength(k));
    } else {
      b.forEach((x: PackedBlob, k: number) => {
        w.blob(k > 0, blobIdInto(x.id, w.idScratch), x.type, x.offset, x.length, x.uncompressedLength);
      });
    }
    w.ascii(']}');
  });
  w.ascii(']}\n');
  return w.length;
}

const HEX = new TextEncoder().encode('0123456789abcdef');
const ascii = (s: string) => new TextEncoder().encode(s);
const BLOB_ID = ascii('{"id":"');
const TYPE_DATA = ascii('","type":"data","offset":');
const TYPE_TREE = ascii('","type":"tree","offset":');
const LENGTH = ascii(',"length":');
const UNCOMPRESSED = ascii(',"uncompressed_length":');

/** Appends ASCII JSON pieces to a buffer of a known upper bound. */
class JsonWriter {
  private readonly out: Buffer;
  private pos = 0;
  readonly idScratch = Buffer.alloc(32);

  constructor(out: Uint8Array) {
    this.out = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }

  get length(): number {
    return this.pos;
  }

  ascii(s: string): void {
    this.pos += this.out.write(s, this.pos, 'latin1');
  }

  private raw(b: Uint8Array): void {
    const out = this.out;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) out[p++] = b[i]!;
    this.pos = p;
  }

  private uint(n: number): void {
    const out = this.out;
    let digits = 1;
    for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      out[--p] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  blob(comma: boolean, id: Uint8Array, type: BlobType, offset: number, length: number, uncompressedLength: number): void {
    if (comma) this.out[this.pos++] = 0x2c;
    this.raw(BLOB_ID);
    const out = this.out;
    let p = this.pos;
    for (let i = 0; i < 32; i++) {
      out[p++] = HEX[id[i]! >> 4]!;
      out[p++] = HEX[id[i]! & 15]!;
    }
    this.pos = p;
    this.raw(type === 'tree' ? TYPE_TREE : TYPE_DATA);
    this.uint(offset);
    this.raw(LENGTH);
    this.uint(length);
    if (uncompressedLength) {
      this.raw(UNCOMPRESSED);
      this.uint(uncompressedLength);
    }
    this.out[this.pos++] = 0x7d; // }
  }
}

export function decodeIndex(plain: Uint8Array, name = ''): IndexFile {
  const where = `index ${name.slice(0, 8)}`;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch (err) {
    throw new FormatError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(raw)) return { supersedes: [], packs: raw.map((p) => decodePack(p, where)), legacy: true };
  if (!raw || typeof raw !== 'object') throw new FormatError(`${where} is not an index`);
  const o = raw as { supersedes?: unknown; packs?: unknown };
  const supersedes = Array.isArray(o.supersedes) ? o.supersedes.filter(isId) : [];
  const packs = Array.isArray(o.packs) ? o.packs.map((p) => decodePack(p, where)) : [];
  return { supersedes, packs };
}

function decodePack(p: unknown, where: string): IndexPack {
  const o = p as { id?: unknown; blobs?: unknown };
  if (!o || !isId(o.id) || !Array.isArray(o.blobs)) throw new FormatError(`${where} has a malformed pack entry`);
  return { id: o.id, blobs: o.blobs.map((b) => decodeBlob(b, where)) };
}

function decodeBlob(b: unknown, where: string): PackedBlob {
  const o = b as { id?: unknown; type?: unknown; offset?: unknown; length?: unknown; uncompressed_length?: unknown };
  const u32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!o || !isId(o.id) || (o.type !== 'data' && o.type !== 'tree') || !u32(o.offset) || !u32(o.length)) {
    throw new FormatError(`${where} has a malformed blob entry`);
  }
  const ul = o.uncompressed_length;
  if (ul !== undefined && ul !== null && !u32(ul)) throw new FormatError(`${where} has a malformed uncompressed_length`);
  return {
    id: o.id,
    type: o.type as BlobType,
    offset: o.offset as number,
    length: o.length as number,
    uncompressedLength: (ul as number | undefined) ?? 0,
  };
}
