/**
 * A streaming zip writer shaped byte for byte like Go's archive/zip as restic's dump uses it:
 * entries stored (not compressed); files with a data descriptor after their data, directories
 * without one (Go writes none for names ending in '/'); Unix mode and MS-DOS attributes in the
 * external attributes; the modification time as MS-DOS time in the node's own zone plus the
 * "extended timestamp" extra field (0x5455); ZIP64 records once sizes or offsets need them.
 */
import zlib from 'node:zlib';
import { GoMode } from '../format/node.js';
import { posixModeFromGo } from '../format/mode.js';
import { ResticError } from '../errors.js';

export class ZipError extends ResticError {}

export interface ZipEntry {
  /** Entry name as text; directories end with '/'. */
  name: string;
  /** Go os.FileMode of the entry (type and permission bits). */
  mode: number;
  /** Modification time, seconds since the epoch. */
  mtimeSec: number;
  /** The time's zone offset east of UTC in minutes (Go keeps it: the MS-DOS time is local to it). */
  offsetMinutes?: number;
}

interface Written {
  name: Buffer;
  flags: number;
  dosTime: number;
  dosDate: number;
  extra: Buffer;
  attrs: number;
  offset: number;
  crc: number;
  size: number;
}

const UINT32_MAX = 0xffffffff;
const UINT16_MAX = 0xffff;
const VERSION_20 = 20;
const VERSION_45 = 45;
const CREATOR_UNIX = 3 << 8;

/** Go's detectUTF8: whether the name needs the UTF-8 flag (a byte outside 0x20…0x7d, or '\'). */
function needsUtf8Flag(name: string): boolean {
  return /[^\x20-\x5b\x5d-\x7d]/.test(name);
}

/** Go's timeToMsDosTime on the time's own wall clock, in 16-bit fields as Go truncates them. */
function msDosTime(sec: number, offsetMinutes: number): { date: number; time: number } {
  const d = new Date((sec + offsetMinutes * 60) * 1000);
  const date = (d.getUTCDate() + ((d.getUTCMonth() + 1) << 5) + ((d.getUTCFullYear() - 1980) << 9)) & UINT16_MAX;
  const time = (Math.floor(d.getUTCSeconds() / 2) + (d.getUTCMinutes() << 5) + (d.getUTCHours() << 11)) & UINT16_MAX;
  return { date, time };
}

/** zlib.crc32 (Node ≥ 20.15), else a table-driven CRC-32. */
const crc32: (data: Uint8Array, value: number) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data, value) => (zlib as unknown as { crc32: (d: Uint8Array, v: number) => number }).crc32(data, value)
    : tableCrc32;

let crcTable: Uint32Array | undefined;
function tableCrc32(data: Uint8Array, value: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export class ZipWriter {
  private offset = 0;
  private readonly entries: Written[] = [];
  private current: Written | null = null;
  private closed = false;

  constructor(private readonly sink: (chunk: Uint8Array) => void | Promise<void>) {}

  private async out(b: Uint8Array): Promise<void> {
    this.offset += b.length;
    await this.sink(b);
  }

  /** Start an entry; its content follows with `write`, and ends with the next entry or `close`. */
  async addEntry(e: ZipEntry): Promise<void> {
    if (this.closed) throw new ZipError('zip: write to closed archive');
    await this.endEntry();
    const name = Buffer.from(e.name, 'utf8');
    if (name.length > UINT16_MAX) throw new ZipError('zip: FileHeader.Name too long');
    const isDir = e.name.endsWith('/');
    let flags = isDir ? 0 : 0x8; // a data descriptor follows a file's data
    if (needsUtf8Flag(e.name)) flags |= 0x800;
    const { date, time } = msDosTime(e.mtimeSec, e.offsetMinutes ?? 0);
    const extra = Buffer.alloc(9);
    extra.writeUInt16LE(0x5455, 0);
    extra.writeUInt16LE(5, 2);
    extra[4] = 1; // modification time present
    extra.writeUInt32LE(e.mtimeSec >>> 0, 5);
    // Go's FileHeader.SetMode: Unix mode in the high 16 bits, MS-DOS directory / read-only bits.
    let attrs = (posixModeFromGo(e.mode) << 16) >>> 0;
    if (e.mode & GoMode.Dir) attrs |= 0x10;
    if ((e.mode & 0o200) === 0) attrs |= 0x01;
    const w: Written = { name, flags, dosTime: time, dosDate: date, extra, attrs: attrs >>> 0, offset: this.offset, crc: 0, size: 0 };
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(VERSION_20, 4);
    h.writeUInt16LE(flags, 6);
    h.writeUInt16LE(0, 8); // stored
    h.writeUInt16LE(time, 10);
    h.writeUInt16LE(date, 12);
    // crc32 and sizes stay 0: they follow in the data descriptor (a directory has none of either)
    h.writeUInt16LE(name.length, 26);
    h.writeUInt16LE(extra.length, 28);
    await this.out(Buffer.concat([h, name, extra]));
    this.entries.push(w);
    this.current = isDir ? null : w;
  }

  async write(data: Uint8Array): Promise<void> {
    if (!data.length) return;
    const w = this.current;
    if (!w) throw new ZipError('zip: write to a directory or without an entry');
    w.crc = crc32(data, w.crc);
    w.size += data.length;
    await this.out(data);
  }

  private async endEntry(): Promise<void> {
    const w = this.current;
    if (!w) return;
    this.current = null;
    const zip64 = w.size >= UINT32_MAX;
    const d = Buffer.alloc(zip64 ? 24 : 16);
    d.writeUInt32LE(0x08074b50, 0);
    d.writeUInt32LE(w.crc, 4);
    if (zip64) {
      d.writeBigUInt64LE(BigInt(w.size), 8);
      d.writeBigUInt64LE(BigInt(w.size), 16);
    } else {
      d.writeUInt32LE(w.size, 8);
      d.writeUInt32LE(w.size, 12);
    }
    await this.out(d);
  }

  async close(): Promise<void> {
    await this.endEntry();
    this.closed = true;
    const start = this.offset;
    for (const w of this.entries) await this.out(centralHeader(w));
    await this.out(endRecords(this.entries.length, this.offset - start, start, this.offset));
  }
}

/** One central directory header, with Go's ZIP64 extra when a size or the offset needs it. */
function centralHeader(w: Written): Buffer {
  const zip64 = w.size >= UINT32_MAX || w.offset >= UINT32_MAX;
  let extra = w.extra;
  if (zip64) {
    const z = Buffer.alloc(28);
    z.writeUInt16LE(0x0001, 0);
    z.writeUInt16LE(24, 2);
    z.writeBigUInt64LE(BigInt(w.size), 4);
    z.writeBigUInt64LE(BigInt(w.size), 12);
    z.writeBigUInt64LE(BigInt(w.offset), 20);
    extra = Buffer.concat([extra, z]);
  }
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE(CREATOR_UNIX | VERSION_20, 4);
  h.writeUInt16LE(w.size >= UINT32_MAX ? VERSION_45 : VERSION_20, 6);
  h.writeUInt16LE(w.flags, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt16LE(w.dosTime, 12);
  h.writeUInt16LE(w.dosDate, 14);
  h.writeUInt32LE(w.crc, 16);
  h.writeUInt32LE(zip64 ? UINT32_MAX : w.size, 20);
  h.writeUInt32LE(zip64 ? UINT32_MAX : w.size, 24);
  h.writeUInt16LE(w.name.length, 28);
  h.writeUInt16LE(extra.length, 30);
  h.writeUInt32LE(w.attrs, 38);
  h.writeUInt32LE(Math.min(w.offset, UINT32_MAX), 42);
  return Buffer.concat([h, w.name, extra]);
}

/** The end of central directory record, preceded by Go's ZIP64 record and locator when needed. */
function endRecords(records: number, size: number, offset: number, end: number): Buffer {
  const parts: Buffer[] = [];
  if (records >= UINT16_MAX || size >= UINT32_MAX || offset >= UINT32_MAX) {
    const z = Buffer.alloc(56 + 20);
    z.writeUInt32LE(0x06064b50, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeUInt16LE(VERSION_45, 12);
    z.writeUInt16LE(VERSION_45, 14);
    z.writeBigUInt64LE(BigInt(records), 24);
    z.writeBigUInt64LE(BigInt(records), 32);
    z.writeBigUInt64LE(BigInt(size), 40);
    z.writeBigUInt64LE(BigInt(offset), 48);
    z.writeUInt32LE(0x07064b50, 56);
    z.writeBigUInt64LE(BigInt(end), 64);
    z.writeUInt32LE(1, 72);
    parts.push(z);
    records = UINT16_MAX;
    size = UINT32_MAX;
    offset = UINT32_MAX;
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(records, 8);
  e.writeUInt16LE(records, 10);
  e.writeUInt32LE(size, 12);
  e.writeUInt32LE(offset, 16);
  parts.push(e);
  return Buffer.concat(parts);
}
