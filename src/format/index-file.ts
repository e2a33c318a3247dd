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
  let packs: IndexPack[] = [];
  const head = decodeIndexPacks(
    plain,
    name,
    (p) => packs.push(p),
    () => (packs = []),
  );
  return { ...head, packs };
}

/**
 * decodeIndex() one pack at a time: `onPack` gets each pack as it is decoded, so only one
 * pack's objects exist at once (an index file of 50,000 blobs parsed whole is tens of MiB of
 * objects). The JSON's skeleton is scanned here and each pack entry parsed alone; anything
 * the scan does not expect goes through JSON.parse of the whole file instead, so errors and
 * odd-but-valid files are treated as before.
 */
export function decodeIndexPacks(
  plain: Uint8Array,
  name: string,
  onPack: (p: IndexPack) => void,
  /** Called before the whole-file parse starts over (packs already passed come again). */
  onRestart?: () => void,
): Omit<IndexFile, 'packs'> {
  const where = `index ${name.slice(0, 8)}`;
  const bytes = Buffer.from(plain.buffer, plain.byteOffset, plain.length);
  let head: Omit<IndexFile, 'packs'> | null;
  try {
    head = scanIndex(bytes, (slice) => onPack(decodePack(JSON.parse(slice), where)));
  } catch (err) {
    if (err instanceof FormatError) throw err;
    head = null; // a JSON.parse of one entry failed: the whole-file parse below explains it
  }
  if (head) return head;
  onRestart?.();
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FormatError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(raw)) {
    for (const p of raw) onPack(decodePack(p, where));
    return { supersedes: [], legacy: true };
  }
  if (!raw || typeof raw !== 'object') throw new FormatError(`${where} is not an index`);
  const o = raw as { supersedes?: unknown; packs?: unknown };
  if (Array.isArray(o.packs)) for (const p of o.packs) onPack(decodePack(p, where));
  return { supersedes: Array.isArray(o.supersedes) ? o.supersedes.filter(isId) : [] };
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(b: Buffer, i: number): number {
  while (i < b.length && WS.has(b[i]!)) i++;
  return i;
}

/** Call `each` with the bounds of every element of the array at `i`; returns the index after it, or -1. */
function scanElements(b: Buffer, i: number, each: (start: number, end: number) => void): number {
  i = skipWs(b, i + 1);
  if (b[i] === 0x5d) return i + 1;
  for (;;) {
    const end = valueEnd(b, i);
    if (end < 0) return -1;
    each(i, end);
    i = skipWs(b, end);
    if (b[i] === 0x5d) return i + 1;
    if (b[i] !== 0x2c) return -1;
    i = skipWs(b, i + 1);
  }
}

/** The members of the object at `i` (packs' entries through `entry`); returns the index after it, or -1. */
function scanMembers(b: Buffer, i: number, out: { supersedes: string[] }, entry: (s: number, e: number) => void): number {
  let sawPacks = false;
  i = skipWs(b, i + 1);
  if (b[i] === 0x7d) return i + 1;
  for (;;) {
    const keyEnd = b[i] === 0x22 ? valueEnd(b, i) : -1;
    if (keyEnd < 0) return -1;
    const key = JSON.parse(b.toString('utf8', i, keyEnd)) as string;
    i = skipWs(b, keyEnd);
    if (b[i] !== 0x3a) return -1;
    i = skipWs(b, i + 1);
    if (key === 'packs' && sawPacks) return -1; // a repeated key: the whole-file parse decides
    if (key === 'packs' && b[i] === 0x5b) {
      sawPacks = true;
      i = scanElements(b, i, entry);
    } else {
      const end = valueEnd(b, i);
      if (end > 0) {
        // Parsed (and so checked) even when unused; these values are small.
        const v = JSON.parse(b.toString('utf8', i, end)) as unknown;
        if (key === 'supersedes') out.supersedes = Array.isArray(v) ? v.filter(isId) : [];
      }
      sawPacks ||= key === 'packs';
      i = end;
    }
    if (i < 0) return -1;
    i = skipWs(b, i);
    if (b[i] === 0x7d) return i + 1;
    if (b[i] !== 0x2c) return -1;
    i = skipWs(b, i + 1);
  }
}

/** The skeleton scan of decodeIndexPacks; null when the file is not of the expected shape. */
function scanIndex(b: Buffer, onEntry: (json: string) => void): Omit<IndexFile, 'packs'> | null {
  const entry = (s: number, e: number) => onEntry(b.toString('utf8', s, e));
  let i = skipWs(b, 0);
  let result: Omit<IndexFile, 'packs'>;
  if (b[i] === 0x5b) {
    i = scanElements(b, i, entry);
    result = { supersedes: [], legacy: true };
  } else if (b[i] === 0x7b) {
    const out = { supersedes: [] as string[] };
    i = scanMembers(b, i, out, entry);
    result = out;
  } else return null;
  return i >= 0 && skipWs(b, i) === b.length ? result : null;
}

/** Index just past the JSON value starting at `i` (strings, arrays and objects matched; scalars to the next delimiter), or -1. */
function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === 0x22) {
    for (let j = i + 1; j < b.length; j++) {
      if (b[j] === 0x5c) j++;
      else if (b[j] === 0x22) return j + 1;
    }
    return -1;
  }
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < b.length; j++) {
      const x = b[j];
      if (x === 0x22) {
        j = valueEnd(b, j) - 1;
        if (j < 0) return -1;
      } else if (x === 0x7b || x === 0x5b) depth++;
      else if (x === 0x7d || x === 0x5d) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < b.length && !WS.has(b[j]!) && b[j] !== 0x2c && b[j] !== 0x7d && b[j] !== 0x5d) j++;
  return j > i ? j : -1;
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

type ScanState =
  'start' | 'key' | 'firstKey' | 'afterMember' | 'firstElem' | 'elem' | 'afterElem' | 'firstBlob' | 'blob' | 'afterBlob' | 'end' | 'bad';

/** How a pack entry starts as restic writes it: its blobs are then read one at a time. */
const PACK_HEAD = /^\{"id":"([0-9a-f]{64})","blobs":\[/;
const PACK_HEAD_LENGTH = 82;
/** Blobs of one pack handed on together when a pack entry is read blob by blob. */
const BLOB_BATCH = 4096;

/**
 * decodeIndexPacks() over the JSON in pieces (a streaming decompressor's output): only the
 * entry not yet complete is kept between pieces, and a pack entry in restic's layout is read
 * blob by blob (its blobs passed on in batches, each as an IndexPack of that pack), so neither
 * a big index file nor a pack of 100,000 blobs exists whole. end() returns null when the file
 * is not of the expected shape or an entry does not parse; the caller then decodes the whole
 * file with decodeIndexPacks(), which explains the error.
 */
export class IndexStreamScanner {
  private buf: Buffer = Buffer.alloc(1 << 16);
  private len = 0;
  private pos = 0;
  private state: ScanState = 'start';
  private legacy = false;
  private sawPacks = false;
  private readonly head = { supersedes: [] as string[] };
  private readonly where: string;
  /** The pack read blob by blob, its blobs not yet passed on, and whether some were. */
  private pack: IndexPack | null = null;
  private passed = false;

  constructor(
    name: string,
    private readonly onPack: (p: IndexPack) => void,
  ) {
    this.where = `index ${name.slice(0, 8)}`;
  }

  push(piece: Uint8Array): void {
    if (this.state === 'bad') return;
    const rest = this.len - this.pos;
    if (rest + piece.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, rest + piece.length));
      this.buf.copy(grown, 0, this.pos, this.len);
      this.buf = grown;
    } else this.buf.copyWithin(0, this.pos, this.len);
    this.buf.set(piece, rest);
    this.len = rest + piece.length;
    this.pos = 0;
    this.run(false);
  }

  end(): Omit<IndexFile, 'packs'> | null {
    if (this.state !== 'bad') this.run(true);
    if (this.state !== 'end') return null;
    return this.legacy ? { supersedes: [], legacy: true } : { supersedes: this.head.supersedes };
  }

  private run(final: boolean): void {
    const b = this.buf.subarray(0, this.len);
    try {
      while (this.state !== 'bad' && this.step(b, final));
    } catch (err) {
      if (err instanceof FormatError) throw err;
      this.state = 'bad'; // an entry that JSON.parse refused
    }
  }

  /** One token; false when more input is needed (or the scan is over). */
  private step(b: Buffer, final: boolean): boolean {
    const i = skipWs(b, this.pos);
    if (i >= b.length) {
      if (final && this.state !== 'end') this.state = 'bad';
      return false;
    }
    const c = b[i]!;
    switch (this.state) {
      case 'start':
        if (c === 0x7b) return this.to(i + 1, 'firstKey');
        this.legacy = c === 0x5b;
        return this.to(i + 1, this.legacy ? 'firstElem' : 'bad');
      case 'firstKey':
        if (c === 0x7d) return this.to(i + 1, 'end');
        return this.member(b, i, final);
      case 'key':
        return this.member(b, i, final);
      case 'afterMember':
        return this.to(i + 1, c === 0x2c ? 'key' : c === 0x7d ? 'end' : 'bad');
      case 'firstElem':
        if (c === 0x5d) return this.to(i + 1, this.legacy ? 'end' : 'afterMember');
        return this.to(i, 'elem');
      case 'elem':
        return this.elem(b, i, final);
      case 'afterElem':
        if (c === 0x2c) return this.to(i + 1, 'elem');
        return this.to(i + 1, c !== 0x5d ? 'bad' : this.legacy ? 'end' : 'afterMember');
      case 'firstBlob':
        if (c === 0x5d) return this.closePack(b, i, final);
        return this.blob(b, i, final);
      case 'blob':
        return this.blob(b, i, final);
      case 'afterBlob':
        if (c === 0x2c) return this.to(i + 1, 'blob');
        return c === 0x5d ? this.closePack(b, i, final) : this.to(i, 'bad');
      default:
        return this.to(i, 'bad'); // 'end': anything but whitespace after the JSON
    }
  }

  /** A pack entry: whole, or blob by blob when it starts as restic writes it. */
  private elem(b: Buffer, i: number, final: boolean): boolean {
    if (b.length - i < PACK_HEAD_LENGTH && !final) return false;
    const head = PACK_HEAD.exec(b.toString('latin1', i, i + PACK_HEAD_LENGTH));
    if (head) {
      this.pack = { id: head[1]!, blobs: [] };
      this.passed = false;
      return this.to(i + PACK_HEAD_LENGTH, 'firstBlob');
    }
    const e = complete(b, i, final);
    if (e < 0) return this.need(final);
    this.onPack(decodePack(JSON.parse(b.toString('utf8', i, e)), this.where));
    return this.to(e, 'afterElem');
  }

  /** One blob of the pack read blob by blob; a full batch is passed on. */
  private blob(b: Buffer, i: number, final: boolean): boolean {
    const e = complete(b, i, final);
    if (e < 0) return this.need(final);
    const pack = this.pack!;
    pack.blobs.push(decodeBlob(JSON.parse(b.toString('utf8', i, e)), this.where));
    if (pack.blobs.length >= BLOB_BATCH) {
      this.onPack({ id: pack.id, blobs: pack.blobs });
      pack.blobs = [];
      this.passed = true;
    }
    return this.to(e, 'afterBlob');
  }

  /** `]` then `}` ending the pack read blob by blob: its last blobs are passed on. */
  private closePack(b: Buffer, i: number, final: boolean): boolean {
    const close = skipWs(b, i + 1);
    if (close >= b.length) return this.need(final);
    if (b[close] !== 0x7d) return this.to(i, 'bad');
    const pack = this.pack!;
    if (pack.blobs.length || !this.passed) this.onPack(pack);
    this.pack = null;
    return this.to(close + 1, 'afterElem');
  }

  /** A member `"key": value`, whole or not at all; "packs" opens the entries' array. */
  private member(b: Buffer, i: number, final: boolean): boolean {
    if (b[i] !== 0x22) return this.to(i, 'bad');
    const keyEnd = complete(b, i, final);
    const colon = keyEnd < 0 ? -1 : skipWs(b, keyEnd);
    const v = colon < 0 || colon >= b.length ? -1 : skipWs(b, colon + 1);
    if (v < 0 || v >= b.length) return this.need(final);
    if (b[colon] !== 0x3a) return this.to(i, 'bad');
    const key = JSON.parse(b.toString('utf8', i, keyEnd)) as string;
    if (key === 'packs' && b[v] === 0x5b) {
      if (this.sawPacks) return this.to(i, 'bad'); // a repeated key: the whole-file parse decides
      this.sawPacks = true;
      return this.to(v + 1, 'firstElem');
    }
    const end = complete(b, v, final);
    if (end < 0) return this.need(final);
    // parsed (and so checked) even when unused; these values are small
    const value = JSON.parse(b.toString('utf8', v, end)) as unknown;
    if (key === 'supersedes') this.head.supersedes = Array.isArray(value) ? value.filter(isId) : [];
    if (key === 'packs') this.sawPacks = true;
    return this.to(end, 'afterMember');
  }

  private to(pos: number, state: ScanState): boolean {
    this.pos = pos;
    this.state = state;
    return state !== 'bad';
  }

  private need(final: boolean): boolean {
    if (final) this.state = 'bad';
    return false;
  }
}

/** valueEnd(), or -1 while the value may still go on in the next piece. */
function complete(b: Buffer, i: number, final: boolean): number {
  const end = valueEnd(b, i);
  return end === b.length && !final && b[i] !== 0x22 && b[i] !== 0x7b && b[i] !== 0x5b ? -1 : end;
}
