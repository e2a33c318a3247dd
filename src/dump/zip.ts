/**
 * A streaming zip writer on fflate, shaped like Go's archive/zip as restic's dump uses
 * it: entries stored (not compressed), Unix mode and MS-DOS attributes in the external
 * attributes, the modification time as MS-DOS time plus the "extended timestamp" extra
 * field (0x5455). Limits of fflate: no ZIP64 (entries and archives stay below 4 GiB),
 * MS-DOS times are clamped to 1980…2099, and names are written as UTF-8 text.
 */
import { Zip, ZipPassThrough } from 'fflate';
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
}

const MIN_DOS = Date.UTC(1980, 0, 2);
const MAX_DOS = Date.UTC(2099, 11, 30);

export class ZipWriter {
  private readonly zip: Zip;
  private pending: Uint8Array[] = [];
  private error: unknown = null;
  private current: ZipPassThrough | null = null;
  private done = false;

  constructor(private readonly sink: (chunk: Uint8Array) => void | Promise<void>) {
    this.zip = new Zip((err, chunk, final) => {
      if (err) this.error ??= err;
      else if (chunk) this.pending.push(chunk);
      if (final) this.done = true;
    });
  }

  private async drain(): Promise<void> {
    if (this.error) throw new ZipError(`zip: ${(this.error as Error).message ?? String(this.error)}`);
    const chunks = this.pending;
    this.pending = [];
    for (const c of chunks) await this.sink(c);
  }

  /** Start an entry; its content follows with `write`, and ends with the next entry or `close`. */
  async addEntry(e: ZipEntry): Promise<void> {
    await this.endEntry();
    const f = new ZipPassThrough(e.name);
    f.os = 3; // Unix
    // Go's FileHeader.SetMode: Unix mode in the high 16 bits, MS-DOS directory / read-only bits.
    let attrs = (posixModeFromGo(e.mode) << 16) >>> 0;
    if (e.mode & GoMode.Dir) attrs |= 0x10;
    if ((e.mode & 0o200) === 0) attrs |= 0x01;
    f.attrs = attrs >>> 0;
    f.mtime = new Date(Math.min(MAX_DOS, Math.max(MIN_DOS, e.mtimeSec * 1000)));
    const ext = new Uint8Array(5);
    ext[0] = 1;
    new DataView(ext.buffer).setUint32(1, e.mtimeSec >>> 0, true);
    f.extra = { 0x5455: ext };
    this.zip.add(f);
    this.current = f;
    await this.drain();
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.current) throw new ZipError('zip: write without an entry');
    if (data.length) this.current.push(data, false);
    await this.drain();
  }

  private async endEntry(): Promise<void> {
    if (!this.current) return;
    this.current.push(new Uint8Array(0), true);
    this.current = null;
    await this.drain();
  }

  async close(): Promise<void> {
    await this.endEntry();
    this.zip.end();
    await this.drain();
    if (!this.done) throw new ZipError('zip: archive was not finished');
  }
}
