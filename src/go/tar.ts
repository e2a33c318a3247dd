/**
 * A streaming tar writer that produces the same bytes as Go's archive/tar Writer for
 * headers without an explicit format (what restic 0.14's `dump` writes): USTAR when the
 * entry fits (ASCII names ≤ 100 bytes, or splittable into a 155-byte prefix and a name;
 * numbers that fit in octal), otherwise a PAX extended header ("PaxHeaders.0/name") with
 * path / linkpath / uname / gname / uid / gid / size / mtime records as needed and
 * SCHILY.* records for extended attributes. Modification times are rounded to seconds.
 * Strings are byte strings (one char per byte), as Go strings are bytes.
 */
import { ResticError } from '../errors.js';
import type { ByteString } from './bytestring.js';

export class TarError extends ResticError {}

export const TarType = {
  Reg: 0x30, // '0'
  RegA: 0x00,
  Link: 0x31,
  Symlink: 0x32,
  Char: 0x33,
  Block: 0x34,
  Dir: 0x35,
  Fifo: 0x36,
  XHeader: 0x78, // 'x'
} as const;

export interface TarHeader {
  /** Entry name (byte string); directories end with '/'. */
  name: ByteString;
  typeflag: number;
  linkname?: ByteString;
  /** Permission and setuid/setgid/sticky bits (POSIX values). */
  mode: number;
  uid: number;
  gid: number;
  uname?: ByteString;
  gname?: ByteString;
  /** Bytes of content that follow (ignored for header-only types). */
  size: number;
  /** Modification time; `null` is Go's zero time (written as the epoch). */
  mtime: { sec: bigint; nsec: number } | null;
  /** Extra PAX records (e.g. SCHILY.xattr.*); their presence forces PAX. */
  paxRecords?: Map<string, ByteString>;
}

const BLOCK = 512;
const NAME_SIZE = 100;
const PREFIX_SIZE = 155;

const isAscii = (s: string) => !/[^\x00-\x7f]/.test(s);
const hasNul = (s: string) => s.includes('\0');

function fitsInOctal(n: number, x: bigint): boolean {
  return x >= 0n && (n >= 22 || x < 1n << BigInt((n - 1) * 3));
}

function isHeaderOnlyType(flag: number): boolean {
  return (
    flag === TarType.Link ||
    flag === TarType.Symlink ||
    flag === TarType.Char ||
    flag === TarType.Block ||
    flag === TarType.Dir ||
    flag === TarType.Fifo
  );
}

/** Go's splitUSTARPath. */
function splitUstarPath(name: ByteString): [string, string] | null {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return null;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || i > PREFIX_SIZE) return null;
  return [name.slice(0, i), name.slice(i + 1)];
}

/** Go's toASCII: drops non-ASCII characters and NULs (only when the string is not ASCII). */
function toAscii(s: ByteString): string {
  return isAscii(s) ? s : s.replace(/[^\x01-\x7f]/g, '');
}

function formatPaxRecord(k: string, v: ByteString): string {
  if (k === '' || k.includes('=')) throw new TarError('archive/tar: invalid format');
  if (['path', 'linkpath', 'uname', 'gname'].includes(k) ? hasNul(v) : hasNul(k)) throw new TarError('archive/tar: invalid format');
  let size = k.length + v.length + 3;
  size += String(size).length;
  let rec = `${size} ${k}=${v}\n`;
  if (rec.length !== size) rec = `${rec.length} ${k}=${v}\n`;
  return rec;
}

function formatPaxTime(sec: bigint, nsec: number): string {
  if (nsec === 0) return String(sec);
  let sign = '';
  if (sec < 0n) {
    sign = '-';
    sec = -(sec + 1n);
    nsec = 1e9 - nsec;
  }
  return `${sign}${sec}.${String(nsec).padStart(9, '0')}`.replace(/0+$/, '');
}

/** Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds. */
const GO_ZERO_SEC = -62135596800n;

class Block {
  readonly b = Buffer.alloc(BLOCK);

  /** Go's formatter.formatString (truncating, NUL-terminating, trailing-slash rule). */
  str(off: number, size: number, s: ByteString): void {
    const bytes = Buffer.from(s, 'latin1');
    bytes.copy(this.b, off, 0, Math.min(size, bytes.length));
    if (bytes.length < size) this.b[off + bytes.length] = 0;
    if (bytes.length > size && this.b[off + size - 1] === 0x2f) {
      const n = s.slice(0, size).replace(/\/+$/, '').length;
      this.b[off + n] = 0;
    }
  }

  /** Go's formatOctal; values that do not fit become 0 (the PAX record carries them). */
  octal(off: number, size: number, x: bigint | number): void {
    let v = BigInt(x);
    if (!fitsInOctal(size, v)) v = 0n;
    let s = v.toString(8);
    const pad = size - s.length - 1;
    if (pad > 0) s = '0'.repeat(pad) + s;
    this.str(off, size, s);
  }

  /** Magic "ustar\0" + version "00", then the checksum. */
  finish(): Buffer {
    this.b.write('ustar\x0000', 257, 'latin1');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : this.b[i]!;
    this.octal(148, 7, sum);
    this.b[155] = 0x20;
    return this.b;
  }
}

/**
 * Writes tar entries to `sink` (called with each piece, in order; awaited for
 * back-pressure). Call `writeHeader`, then `write` exactly `size` bytes of content
 * (none for directories and symlinks), and `close` at the end.
 */
export class TarWriter {
  private remaining = 0;
  private pad = 0;
  private closed = false;

  constructor(private readonly sink: (chunk: Uint8Array) => void | Promise<void>) {}

  private async flush(): Promise<void> {
    if (this.remaining > 0) throw new TarError(`archive/tar: missed writing ${this.remaining} bytes`);
    if (this.pad) await this.sink(Buffer.alloc(this.pad));
    this.pad = 0;
  }

  async writeHeader(input: TarHeader): Promise<void> {
    if (this.closed) throw new TarError('archive/tar: write after close');
    await this.flush();
    const h: TarHeader = { ...input };
    if (h.typeflag === TarType.RegA) h.typeflag = h.name.endsWith('/') ? TarType.Dir : TarType.Reg;
    // Format unspecified: Go rounds the mtime to seconds (half up) and drops atime/ctime.
    let mtime: { sec: bigint; nsec: number } | null = h.mtime;
    if (mtime && !(mtime.sec === GO_ZERO_SEC && mtime.nsec === 0)) {
      mtime = { sec: mtime.sec + (mtime.nsec >= 500_000_000 ? 1n : 0n), nsec: 0 };
    } else mtime = null;

    let ustar = true;
    let pax = true;
    const paxHdrs = new Map<string, string>();
    const verifyString = (s: ByteString, size: number, paxKey: string) => {
      const tooLong = s.length > size;
      if (!isAscii(s) || tooLong) {
        if (paxKey !== 'path' || !splitUstarPath(s)) ustar = false;
        if (paxKey === '') pax = false;
        else paxHdrs.set(paxKey, s);
      }
    };
    const verifyNumeric = (n: bigint, size: number, paxKey: string) => {
      if (!fitsInOctal(size, n)) {
        ustar = false;
        if (paxKey === '') pax = false;
        else paxHdrs.set(paxKey, n.toString());
      }
    };
    verifyString(h.name, NAME_SIZE, 'path');
    verifyString(h.linkname ?? '', NAME_SIZE, 'linkpath');
    verifyString(h.uname ?? '', 32, 'uname');
    verifyString(h.gname ?? '', 32, 'gname');
    verifyNumeric(BigInt(h.mode), 8, '');
    verifyNumeric(BigInt(h.uid), 8, 'uid');
    verifyNumeric(BigInt(h.gid), 8, 'gid');
    verifyNumeric(BigInt(h.size), 12, 'size');
    if (mtime && !fitsInOctal(12, mtime.sec)) {
      ustar = false;
      paxHdrs.set('mtime', formatPaxTime(mtime.sec, mtime.nsec));
    }
    if (
      (h.typeflag === TarType.Reg || h.typeflag === TarType.Char || h.typeflag === TarType.Block || h.typeflag === TarType.Fifo) &&
      h.name.endsWith('/')
    ) {
      throw new TarError('archive/tar: header field Name: filename may not have trailing slash');
    }
    if (h.paxRecords?.size) {
      const basic = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime']);
      for (const [k, v] of h.paxRecords) {
        if (paxHdrs.has(k)) continue;
        if (!basic.has(k) && !k.startsWith('GNU.sparse.')) paxHdrs.set(k, v);
      }
      ustar = false;
    }

    if (ustar) return this.writeUstar(h, mtime);
    if (pax) return this.writePax(h, mtime, paxHdrs);
    throw new TarError(`archive/tar: cannot encode header for ${JSON.stringify(Buffer.from(h.name, 'latin1').toString())}`);
  }

  private template(h: TarHeader, mtime: { sec: bigint } | null, str: (s: ByteString) => string): Block {
    const blk = new Block();
    blk.b[156] = h.typeflag;
    blk.str(0, 100, str(h.name));
    blk.str(157, 100, str(h.linkname ?? ''));
    blk.octal(100, 8, h.mode);
    blk.octal(108, 8, h.uid);
    blk.octal(116, 8, h.gid);
    blk.octal(124, 12, h.size);
    blk.octal(136, 12, mtime ? mtime.sec : 0n);
    blk.str(265, 32, str(h.uname ?? ''));
    blk.str(297, 32, str(h.gname ?? ''));
    blk.octal(329, 8, 0);
    blk.octal(337, 8, 0);
    return blk;
  }

  private async writeUstar(h: TarHeader, mtime: { sec: bigint } | null): Promise<void> {
    let prefix = '';
    const split = splitUstarPath(h.name);
    if (split) [prefix, h.name] = split;
    const blk = this.template(h, mtime, (s) => s);
    blk.str(345, PREFIX_SIZE, prefix);
    await this.writeRawHeader(blk.finish(), h.size, h.typeflag);
  }

  private async writePax(h: TarHeader, mtime: { sec: bigint } | null, paxHdrs: Map<string, string>): Promise<void> {
    if (paxHdrs.size) {
      const keys = [...paxHdrs.keys()].sort();
      const data = keys.map((k) => formatPaxRecord(k, paxHdrs.get(k)!)).join('');
      // path.Join(dir, "PaxHeaders.0", file) of the real name
      const slash = h.name.lastIndexOf('/');
      const dir = h.name.slice(0, slash + 1);
      const file = h.name.slice(slash + 1);
      let name = [dir, 'PaxHeaders.0', file].filter((p) => p !== '').join('/');
      name = cleanJoined(name);
      name = toAscii(name).slice(0, NAME_SIZE).replace(/\/+$/, '');
      const blk = new Block();
      blk.b[156] = TarType.XHeader;
      blk.str(0, 100, name);
      blk.octal(100, 8, 0);
      blk.octal(108, 8, 0);
      blk.octal(116, 8, 0);
      blk.octal(124, 12, data.length);
      blk.octal(136, 12, 0);
      await this.writeRawHeader(blk.finish(), data.length, TarType.XHeader);
      await this.write(Buffer.from(data, 'latin1'));
      await this.flush();
    }
    const blk = this.template(h, mtime, toAscii);
    await this.writeRawHeader(blk.finish(), h.size, h.typeflag);
  }

  private async writeRawHeader(block: Buffer, size: number, flag: number): Promise<void> {
    await this.sink(block);
    const n = isHeaderOnlyType(flag) ? 0 : size;
    this.remaining = n;
    this.pad = -n & (BLOCK - 1);
  }

  /** Content of the current entry. */
  async write(data: Uint8Array): Promise<void> {
    if (data.length > this.remaining) {
      if (this.remaining > 0) await this.sink(data.subarray(0, this.remaining));
      this.remaining = 0;
      throw new TarError('archive/tar: write too long');
    }
    this.remaining -= data.length;
    if (data.length) await this.sink(data);
  }

  /** Pads the last entry and writes the two zero blocks that end the archive. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.sink(Buffer.alloc(2 * BLOCK));
  }
}

/** path.Clean for the PaxHeaders name (relative, no '..' expected). */
function cleanJoined(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else out.push(part);
  }
  return (p.startsWith('/') ? '/' : '') + out.join('/') || '.';
}
