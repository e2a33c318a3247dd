/**
 * Local directory backend in restic's default layout, behaving like restic 0.14's
 * internal/backend/local: writes go to `<final>-tmp-<random>` (0600), are fsynced, closed,
 * renamed into place, the directory is fsynced, and the file is made read-only.
 *
 * Not supported: the deprecated s3legacy layout (`key/`, `lock/`, `snapshot/`, packs directly
 * in `data/`), which restic 0.14 auto-detects when `keys/` is empty and `key/` is not.
 */
import { randomBytes } from 'node:crypto';
import { type Dirent, mkdirSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted, NotFoundError, ResticError, errCode } from '../errors.js';
import {
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  checkHandle,
  defaultLayoutDir,
  defaultLayoutPath,
  describeHandle,
  isIdName,
  isTempName,
  tempFileFolders,
  type TempFileInfo,
  type CallOptions,
} from './backend.js';
import { Semaphore } from './semaphore.js';

export interface LocalBackendOptions {
  /** Maximum number of files open at once by save/load (restic: `-o local.connections`). */
  connections?: number;
}

/** Permissions for new directories and files (restic's backend.Modes). */
export interface Modes {
  dir: number;
  file: number;
}

const DEFAULT_MODES: Readonly<Modes> = { dir: 0o700, file: 0o600 };

/** restic's DeriveModesFromFileInfo: a group-readable config makes the repo group-accessible. */
export function deriveModes(configMode: number | undefined): Modes {
  if (configMode === undefined || (configMode & 0o040) === 0) return { ...DEFAULT_MODES };
  return { dir: DEFAULT_MODES.dir | 0o070, file: DEFAULT_MODES.file | 0o060 };
}

const DEFAULT_CONNECTIONS = 32;
const STAT_BATCH = 64;
// restic skips chmod and directory fsync on Windows.
const POSIX = process.platform !== 'win32';

/**
 * A repository in a local directory, written as restic does (fsync, atomic rename, read-only files).
 *
 * @example
 * ```ts
 * const repo = await Repository.open(new LocalBackend('/srv/repo'), password);
 * ```
 */
export class LocalBackend implements Backend {
  readonly location: string;
  private modesP?: Promise<Modes>;
  private readonly sem: Semaphore;
  private tempDir: string | undefined;

  constructor(
    readonly root: string,
    options: LocalBackendOptions = {},
  ) {
    this.location = path.resolve(root);
    this.sem = new Semaphore(options.connections ?? DEFAULT_CONNECTIONS);
  }

  /** Absolute path of a file in the default layout. */
  filename(h: Handle): string {
    checkHandle(h);
    return path.join(this.location, defaultLayoutPath(h));
  }

  /** Modes are derived once per backend from the config file, as restic does on open. */
  modes(): Promise<Modes> {
    this.modesP ??= fsp.stat(path.join(this.location, 'config')).then(
      (st) => deriveModes(st.mode),
      () => deriveModes(undefined),
    );
    return this.modesP;
  }

  async create(opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const config = path.join(this.location, 'config');
    if (await exists(config)) throw new ResticError(`config file already exists at ${config}`);
    const { dir } = await this.modes();
    const data = path.join(this.location, 'data');
    await fsp.mkdir(data, { recursive: true, mode: dir });
    const dirs = ['index', 'keys', 'locks', 'snapshots'].map((d) => path.join(this.location, d));
    for (let i = 0; i < 256; i++) dirs.push(path.join(data, i.toString(16).padStart(2, '0')));
    await Promise.all(dirs.map((d) => fsp.mkdir(d, { recursive: true, mode: dir })));
  }

  async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const final = this.filename(h);
    const modes = await this.modes();
    await this.sem.acquire();
    try {
      await writeAtomic(final, data, modes);
    } finally {
      this.sem.release();
    }
  }

  /**
   * Where pack files can be written before their name (the SHA-256 of their content) is
   * known: one of data/'s subdirectories, on the repository's file system. Like restic's own
   * temp files there, a non-ID name is skipped by every lister (restic, rest-server, ours),
   * while a plain file directly in data/ would make rest-server's listing fail.
   */
  packTempDir(): string {
    if (this.tempDir === undefined) {
      const dir = path.join(this.location, 'data', randomBytes(1).toString('hex'));
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.tempDir = dir;
    }
    return this.tempDir;
  }

  /**
   * Commit a complete file written in packTempDir() as `h`, with save()'s guarantees:
   * fsync, rename into place, fsync the directory, read-only. The temp file is removed on failure.
   */
  async adoptTempFile(h: Handle, tmp: string, opts?: CallOptions): Promise<void> {
    if (opts?.signal?.aborted) {
      // cancelled: the temp file is not the caller's to clean up either
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throwIfAborted(opts.signal);
    }
    const final = this.filename(h);
    const modes = await this.modes();
    await this.sem.acquire();
    try {
      await adoptAtomic(tmp, final, modes);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    } finally {
      this.sem.release();
    }
  }

  load(h: Handle, offset = 0, length = 0, opts?: CallOptions): Promise<Uint8Array> {
    return this.loadInto(h, offset, length, allocUninitialized, opts);
  }

  /**
   * load() into memory from `alloc` (e.g. a recycled buffer), for readers that keep a few
   * large buffers instead of allocating one per pack. Returns the filled view.
   */
  async loadInto(h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    throwIfAborted(opts?.signal);
    const file = this.filename(h);
    checkRange(file, offset, length);
    await this.sem.acquire();
    try {
      return await readRange(h, file, offset, length, alloc);
    } finally {
      this.sem.release();
    }
  }

  async stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    throwIfAborted(opts?.signal);
    const file = this.filename(h);
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) throw new ResticError(`${file} is not a regular file`);
      return { name: h.name, size: st.size };
    } catch (err) {
      throw wrapNotFound(err, h, file);
    }
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    throwIfAborted(opts?.signal);
    if (type === 'config') return;
    const base = path.join(this.location, defaultLayoutDir(type));
    // Packs live one level down in data/XX; restic visits every subdirectory of data/.
    const dirs = type === 'pack' ? await subdirs(base) : [base];
    for (const dir of dirs) yield* listFiles(dir);
  }

  async remove(h: Handle, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const file = this.filename(h);
    try {
      await fsp.unlink(file);
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EPERM' && code !== 'EACCES') throw err;
      // Read-only files cannot be unlinked on Windows; restic resets the mode first.
      await fsp.chmod(file, 0o666).catch(() => undefined);
      await fsp.unlink(file).catch((e: unknown) => {
        if (errCode(e) !== 'ENOENT') throw e;
      });
    }
  }

  async *listTempFiles(): AsyncGenerator<TempFileInfo> {
    for (const folder of tempFileFolders()) {
      for (const e of await readdirOrEmpty(path.join(this.location, folder))) {
        if (!e.isFile() || !isTempName(e.name)) continue;
        const rel = folder ? `${folder}/${e.name}` : e.name;
        try {
          const st = await fsp.lstat(path.join(this.location, rel));
          yield { path: rel, size: st.size, mtimeMs: st.mtimeMs };
        } catch (err) {
          if (errCode(err) !== 'ENOENT') throw err; // gone meanwhile: renamed or removed
        }
      }
    }
  }

  async removeTempFile(rel: string): Promise<void> {
    const parts = rel.split('/');
    if (!isTempName(parts.at(-1)!) || !tempFileFolders().includes(parts.slice(0, -1).join('/')))
      throw new ResticError(`not a temp file: ${JSON.stringify(rel)}`);
    await fsp.rm(path.join(this.location, ...parts), { force: true });
  }

  async close(): Promise<void> {}
}

/** Temp file in the target dir, write, fsync, close, rename, fsync dir, chmod read-only. */
async function writeAtomic(final: string, data: Uint8Array, modes: Modes): Promise<void> {
  const dir = path.dirname(final);
  const tmp = `${final}-tmp-${randomBytes(6).toString('hex')}`;
  const fh = await openTemp(tmp, dir, modes.dir);
  let closed = false;
  let renamed = false;
  let syncSupported: boolean;
  try {
    await writeAll(fh, data);
    syncSupported = await syncFile(fh);
    closed = true; // close before rename: Windows refuses to rename open files
    await fh.close();
    await fsp.rename(tmp, final);
    renamed = true;
  } finally {
    if (!renamed) {
      if (!closed) await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }
  await settle(final, syncSupported, modes);
}

/** The end of writeAtomic for a temp file written elsewhere: fsync, rename, fsync dir, chmod read-only. */
async function adoptAtomic(tmp: string, final: string, modes: Modes): Promise<void> {
  const fh = await fsp.open(tmp, 'r+');
  let syncSupported: boolean;
  try {
    syncSupported = await syncFile(fh);
  } finally {
    await fh.close();
  }
  await inDir(path.dirname(final), modes.dir, () => fsp.rename(tmp, final));
  await settle(final, syncSupported, modes);
}

/** After the rename: fsync the directory (where the file system can), chmod read-only. */
async function settle(final: string, syncSupported: boolean, modes: Modes): Promise<void> {
  if (POSIX && syncSupported) await syncDir(path.dirname(final));
  if (POSIX) await setReadOnly(final, modes.file);
}

/** Run `fn`; when `dir` (e.g. data/XX) is missing, make it and run `fn` once more. */
async function inDir<T>(dir: string, dirMode: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
    await fsp.mkdir(dir, { recursive: true, mode: dirMode });
    return await fn();
  }
}

/** Exclusive create of the temp file; a missing directory is made on demand. */
function openTemp(tmp: string, dir: string, dirMode: number): Promise<fsp.FileHandle> {
  return inDir(dir, dirMode, () => fsp.open(tmp, 'wx', 0o600));
}

async function writeAll(fh: fsp.FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, off);
    off += bytesWritten;
  }
}

/** fsync; returns false when the file system does not support it (restic ignores that). */
async function syncFile(fh: fsp.FileHandle): Promise<boolean> {
  try {
    await fh.sync();
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOTSUP' || errCode(err) === 'EOPNOTSUPP') return false;
    throw err;
  }
}

/** Commit the rename; like restic, tolerate file systems that cannot fsync directories. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    const code = errCode(err);
    if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOENT' && code !== 'EINVAL') throw err;
  } finally {
    await fh.close();
  }
}

/** mode &^ 0222; some file systems (exfat, network mounts) refuse chmod, which is fine. */
async function setReadOnly(file: string, mode: number): Promise<void> {
  try {
    await fsp.chmod(file, mode & ~0o222);
  } catch (err) {
    const code = errCode(err);
    if (code !== 'EPERM' && code !== 'EACCES') throw err;
  }
}

function checkRange(file: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ResticError(`${file}: invalid offset ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new ResticError(`${file}: invalid length ${length}`);
}

/** Positional read of exactly [offset, offset+length), or to the end when length is 0. */
async function readRange(h: Handle, file: string, offset: number, length: number, alloc: (n: number) => Uint8Array): Promise<Uint8Array> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    throw wrapNotFound(err, h, file);
  }
  try {
    // the size first: a range claimed by a damaged index must not decide what we allocate
    const size = (await fh.stat()).size;
    if (length === 0) {
      if (offset > size) throw new ResticError(`${file}: offset ${offset} is beyond the end of the file (${size} bytes)`);
      length = size - offset;
    }
    const eof = (): ResticError =>
      new ResticError(`${file}: unexpected EOF: wanted ${length} bytes at offset ${offset}, the file has ${size} bytes`);
    if (offset + length > size) throw eof();
    const buf = alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) throw eof(); // shrank meanwhile
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** A plain Uint8Array that owns its whole ArrayBuffer, without zero-filling. */
function allocUninitialized(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

async function readdirOrEmpty(dir: string): Promise<Dirent[]> {
  try {
    return await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** Subdirectories of data/ (symlinks are followed; plain files there are ignored, as in restic). */
async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdirOrEmpty(dir);
  return entries
    .filter((e) => e.isDirectory() || e.isSymbolicLink())
    .map((e) => path.join(dir, e.name))
    .sort();
}

/** Regular files with ID names in one directory, with sizes (stat'ed in parallel batches). */
async function* listFiles(dir: string): AsyncGenerator<FileInfo> {
  const entries = (await readdirOrEmpty(dir)).filter((e) => isIdName(e.name) && (e.isFile() || e.isSymbolicLink()));
  for (let i = 0; i < entries.length; i += STAT_BATCH) {
    const batch = entries.slice(i, i + STAT_BATCH);
    const infos = await Promise.all(batch.map((e) => fileInfo(dir, e.name)));
    for (const fi of infos) if (fi) yield fi;
  }
}

async function fileInfo(dir: string, name: string): Promise<FileInfo | undefined> {
  try {
    const st = await fsp.stat(path.join(dir, name));
    return st.isFile() ? { name, size: st.size } : undefined;
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined; // removed or dangling
    throw err;
  }
}

function wrapNotFound(err: unknown, h: Handle, file: string): unknown {
  const code = errCode(err);
  if (code !== 'ENOENT' && code !== 'ENOTDIR') return err;
  return new NotFoundError(`${describeHandle(h)} does not exist: ${file}`, { cause: err });
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}
