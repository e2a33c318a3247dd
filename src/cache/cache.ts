/**
 * One repository's cache directory: index files, snapshot files and packs holding tree blobs,
 * stored byte for byte as in the repository under restic's layout (`index/ab/abcd…`).
 * Files are written to a temp file and renamed, so a concurrent reader (another restic-ts or
 * restic process) sees a whole file or none; every reader verifies what it reads.
 */
import fs from 'node:fs/promises';
import fsSync, { type Dirent } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { errCode, ResticError } from '../errors.js';
import { isId } from '../format/id.js';
import type { FileType, Handle } from '../backends/backend.js';
import { CACHE_VERSION, prepareBase } from './dir.js';

/** A temp file untouched this long was left by a writer that died. */
const STALE_TEMP_MS = 3600_000;
/** Cached pack files kept open for reading. */
const MAX_OPEN = 32;
const LAYOUT: Partial<Record<FileType, string>> = { pack: 'data', snapshot: 'snapshots', index: 'index' };

export class Cache {
  private readonly open = new Map<string, { fd: number; size: number }>();

  private constructor(
    /** This repository's directory. */
    readonly path: string,
    /** The base holding every repository's directory. */
    readonly base: string,
    /** Whether this process created the directory (a cold cache). */
    readonly created: boolean,
  ) {}

  /** Open (creating if needed) the cache of repository `id` under `base`; marks it used now. */
  static async open(id: string, base: string): Promise<Cache> {
    if (!isId(id)) throw new ResticError(`cache: invalid repository ID ${JSON.stringify(id)}`);
    await prepareBase(base);
    const dir = path.join(base, id);
    let version = 0;
    let created = false;
    try {
      version = Number.parseInt(await fs.readFile(path.join(dir, 'version'), 'utf8'), 10);
      if (!(version >= 0)) throw new ResticError(`cache: unreadable version file in ${dir}`);
      if (version > CACHE_VERSION) throw new ResticError(`cache: ${dir} has a newer layout (version ${version})`);
      const now = new Date();
      await fs.utimes(dir, now, now);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      created = await fs.mkdir(dir, { mode: 0o700 }).then(
        () => true,
        (e: unknown) => (errCode(e) === 'EEXIST' ? false : Promise.reject(e)),
      );
    }
    if (version < CACHE_VERSION) await writeAtomic(path.join(dir, 'version'), Buffer.from(String(CACHE_VERSION)));
    for (const sub of Object.values(LAYOUT)) await fs.mkdir(path.join(dir, sub), { recursive: true, mode: 0o700 });
    return new Cache(dir, base, created);
  }

  static canCache(type: FileType): boolean {
    return type in LAYOUT;
  }

  filename(h: Handle): string {
    return path.join(this.path, LAYOUT[h.type]!, h.name.slice(0, 2), h.name);
  }

  /**
   * Read a cached file or part of it (length 0: to the end); null when not cached.
   * Throws when the cached file is shorter than the range asked for (truncated).
   */
  async read(h: Handle, offset = 0, length = 0): Promise<Uint8Array | null> {
    if (h.type !== 'pack') return this.readWhole(h, offset, length);
    // Packs: many small reads (tree blobs) of few files, through descriptors kept open.
    const file = this.filename(h);
    const open = this.openFile(file);
    if (!open) return null;
    try {
      const n = length > 0 ? length : open.size - offset;
      if (n < 0 || offset + n > open.size) throw new ResticError(`cached file is too short (${open.size} bytes)`);
      const buf = Buffer.allocUnsafe(n);
      const got = fsSync.readSync(open.fd, buf, 0, n, offset);
      if (got !== n) throw new ResticError(`cached file is too short (read ${got} of ${n} bytes)`);
      return buf;
    } catch (err) {
      this.closeFile(file);
      throw err;
    }
  }

  private async readWhole(h: Handle, offset: number, length: number): Promise<Uint8Array | null> {
    let data: Buffer;
    try {
      data = await fs.readFile(this.filename(h));
    } catch (err) {
      if (errCode(err) === 'ENOENT') return null;
      throw err;
    }
    const end = length > 0 ? offset + length : data.length;
    if (offset > data.length || end > data.length) throw new ResticError(`cached file is too short (${data.length} bytes)`);
    return data.subarray(offset, end);
  }

  /** An open descriptor of `file` and its size (the last MAX_OPEN used stay open), or null. */
  private openFile(file: string): { fd: number; size: number } | null {
    let e = this.open.get(file);
    if (e) {
      this.open.delete(file); // most recently used last
      this.open.set(file, e);
      return e;
    }
    let fd: number;
    try {
      fd = fsSync.openSync(file, 'r');
    } catch (err) {
      if (errCode(err) === 'ENOENT') return null;
      throw err;
    }
    e = { fd, size: fsSync.fstatSync(fd).size };
    this.open.set(file, e);
    if (this.open.size > MAX_OPEN) this.closeFile(this.open.keys().next().value!);
    return e;
  }

  private closeFile(file: string): void {
    const e = this.open.get(file);
    if (!e) return;
    this.open.delete(file);
    fsSync.closeSync(e.fd);
  }

  /** Close the descriptors kept open. */
  close(): void {
    for (const file of [...this.open.keys()]) this.closeFile(file);
  }

  async has(h: Handle): Promise<boolean> {
    return fs.stat(this.filename(h)).then(
      () => true,
      () => false,
    );
  }

  /** Store a whole file (temp file + rename). */
  async write(h: Handle, data: Uint8Array): Promise<void> {
    const file = this.filename(h);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeAtomic(file, data);
  }

  /** Move a finished temp file elsewhere into the cache as `h` (copy, then rename). */
  async copyIn(h: Handle, src: string): Promise<void> {
    const file = this.filename(h);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = tempName(file);
    try {
      await fs.copyFile(src, tmp);
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Remove a cached file; true when there was one. */
  async remove(h: Handle): Promise<boolean> {
    if (!Cache.canCache(h.type)) return false;
    this.closeFile(this.filename(h));
    try {
      await fs.unlink(this.filename(h));
      return true;
    } catch (err) {
      if (errCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** Remove cached files of `type` for which `keep` is false (no longer in the repository). */
  async clear(type: FileType, keep: (name: string) => boolean): Promise<number> {
    const dir = LAYOUT[type];
    if (!dir) return 0;
    let removed = 0;
    for (const name of await this.list(type)) {
      if (keep(name)) continue;
      if (await this.remove({ type, name })) removed++;
    }
    await this.removeStaleTemp(path.join(this.path, dir));
    return removed;
  }

  /** Temp files a killed writer left (old enough that no writer still fills them). */
  private async removeStaleTemp(top: string): Promise<void> {
    const entries = await fs.readdir(top, { withFileTypes: true, recursive: true }).catch(() => []);
    const before = Date.now() - STALE_TEMP_MS;
    for (const e of entries) {
      if (!e.isFile() || !e.name.startsWith('tmp-')) continue;
      const file = path.join(e.parentPath, e.name);
      const st = await fs.stat(file).catch(() => null);
      if (st && st.mtimeMs < before) await fs.rm(file, { force: true });
    }
  }

  /** Names of the cached files of `type` (temp files of writers in flight are not IDs). */
  async list(type: FileType): Promise<string[]> {
    const top = path.join(this.path, LAYOUT[type]!);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(top, { withFileTypes: true, recursive: true });
    } catch (err) {
      if (errCode(err) === 'ENOENT') return [];
      throw err;
    }
    return entries.filter((e) => e.isFile() && isId(e.name)).map((e) => e.name);
  }
}

function tempName(file: string): string {
  return path.join(path.dirname(file), `tmp-${randomBytes(6).toString('hex')}`);
}

async function writeAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = tempName(file);
  try {
    await fs.writeFile(tmp, data, { mode: 0o644 });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
