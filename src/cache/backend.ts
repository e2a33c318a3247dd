/**
 * The cache as a layer over any Backend (as restic wraps its backend): index and snapshot
 * files, and packs loaded or saved with `tree: true`, are kept in a local Cache and read from
 * there. What is read from the cache is checked before use: whole files against their name
 * (SHA-256); blobs read from a cached pack by the repository's MAC check, which calls
 * forget() on failure and reads again. A damaged, truncated or vanished cached file is
 * reported in one line and fetched again from the repository, never trusted.
 */
import {
  type Backend,
  type CallOptions,
  type SaveOptions,
  type FileInfo,
  type FileType,
  type Handle,
  type TempFileInfo,
  describeHandle,
} from '../backends/backend.js';
import { LocalBackend } from '../backends/local.js';
import { MemoryBackend } from '../backends/memory.js';
import { RetryBackend } from '../backends/retry.js';
import { AbortableBackend } from '../backends/abortable.js';
import { NotFoundError, ResticError } from '../errors.js';
import { hashId } from '../format/id.js';
import { Cache } from './cache.js';
import { defaultCacheBase } from './dir.js';

/** Whole-file downloads at once while warming (each held in memory until written: ≤ 4 packs). */
const WARM_CONCURRENCY = 4;

/** Index and snapshot files fetched at once after a listing. */
const LISTED_CONCURRENCY = 8;

/** Where and how Repository.open() keeps its local cache (OpenOptions.cache). */
export interface CacheOptions {
  /** Base directory holding one directory per repository ID (default: see defaultCacheBase). */
  dir?: string;
  /** One line for each cached file found damaged or missing (and re-fetched), or a cache failure. */
  onEvent?: (message: string) => void;
}

export class CachedBackend implements Backend {
  readonly location: string;
  /** Whole-file downloads in flight, so concurrent readers of one pack fetch it once. */
  private readonly inFlight = new Map<string, Promise<Uint8Array>>();
  /** Files this process found in or put into the cache (so a vanished one is reported). */
  private readonly known = new Set<string>();
  /** The cache's files when this process opened it. */
  private readonly initial: Promise<Set<string>>;
  /** Files forget() removed: a second failure is the repository's, not the cache's. */
  private readonly forgotten = new Set<string>();
  private writeFailed = false;
  private closing = false;
  private readonly warming = new Set<Promise<void>>();
  packTempDir?: () => string;
  adoptTempFile?: (h: Handle, tmp: string) => Promise<void>;
  loadInto?: (h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array) => Promise<Uint8Array>;
  listTempFiles?: () => AsyncIterable<TempFileInfo>;
  removeTempFile?: (path: string) => Promise<void>;
  saveFile?: (h: Handle, file: string, opts?: CallOptions) => Promise<void>;

  constructor(
    readonly inner: Backend,
    readonly cache: Cache,
    private readonly report: (message: string) => void = () => undefined,
  ) {
    this.location = inner.location;
    this.initial = listAll(cache).catch(() => new Set<string>());
    if (inner.packTempDir && inner.adoptTempFile) {
      this.packTempDir = () => inner.packTempDir!();
      this.adoptTempFile = (h, tmp) => this.adopt(h, tmp);
    }
    // temp-file hygiene (backup, prune, check) works through the cache as through RetryBackend
    if (inner.listTempFiles && inner.removeTempFile) {
      this.listTempFiles = () => inner.listTempFiles!();
      this.removeTempFile = (p) => inner.removeTempFile!(p);
    }
    // streamed uploads (packs spooled to temp files) stay streamed through the cache
    if (inner.saveFile) this.saveFile = (h, file, opts) => this.saveFileVia(h, file, opts);
    if (inner.loadInto) this.loadInto = (h, offset, length, alloc) => this.loadIntoVia(h, offset, length, alloc);
  }

  /** Whether a file is kept in the cache: index, snapshot, and packs of tree blobs. */
  private cacheable(h: Handle): boolean {
    return h.type === 'index' || h.type === 'snapshot' || (h.type === 'pack' && h.tree === true);
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  async save(h: Handle, data: Uint8Array, opts?: SaveOptions): Promise<void> {
    await this.inner.save(h, data, opts);
    if (this.cacheable(h)) await this.store(h, () => this.cache.write(h, data));
  }

  private async saveFileVia(h: Handle, file: string, opts?: CallOptions): Promise<void> {
    await this.inner.saveFile!(h, file, opts);
    if (this.cacheable(h)) await this.store(h, () => this.cache.copyIn(h, file));
  }

  private async adopt(h: Handle, tmp: string): Promise<void> {
    // Copied before the rename takes the temp file away.
    if (this.cacheable(h)) await this.store(h, () => this.cache.copyIn(h, tmp));
    await this.inner.adoptTempFile!(h, tmp);
  }

  /** Run a cache write; its failure costs only the cache (reported once), never the operation. */
  private async store(h: Handle, write: () => Promise<void>): Promise<void> {
    try {
      await write();
      this.known.add(key(h));
    } catch (err) {
      if (this.writeFailed) return;
      this.writeFailed = true;
      this.report(`cache: unable to write ${describeHandle(h)} to ${this.cache.path}: ${(err as Error).message}`);
    }
  }

  async load(h: Handle, offset = 0, length = 0): Promise<Uint8Array> {
    if (!this.cacheable(h)) return this.inner.load(h, offset, length);
    const pending = this.inFlight.get(key(h));
    if (pending) await pending.catch(() => undefined);
    const cached = await this.readCached(h, offset, length);
    if (cached) return cached;
    return slice(h, await this.fetch(h), offset, length);
  }

  private async loadIntoVia(h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array): Promise<Uint8Array> {
    if (!this.cacheable(h)) return this.inner.loadInto!(h, offset, length, alloc);
    const data = await this.load(h, offset, length);
    const out = alloc(data.length);
    out.set(data);
    return out;
  }

  /** A range of a cached file, or null (not cached, or found bad: then removed and reported). */
  private async readCached(h: Handle, offset: number, length: number): Promise<Uint8Array | null> {
    let data: Uint8Array | null;
    try {
      data = await this.cache.read(h, offset, length);
    } catch (err) {
      return this.drop(h, (err as Error).message);
    }
    if (!data) {
      if (this.known.delete(key(h)) || (await this.wasCached(h))) {
        this.report(`cache: ${describeHandle(h)} vanished from the cache, re-fetched from the repository`);
      }
      return null;
    }
    // A whole file is checked against its name here; ranges of packs by the blobs' MACs.
    if (offset === 0 && length === 0 && hashId(data) !== h.name) return this.drop(h, 'content does not match its name');
    this.known.add(key(h));
    return data;
  }

  /** Whether `h` was in the cache when this process opened it (once only: it is fetched now). */
  private async wasCached(h: Handle): Promise<boolean> {
    return (await this.initial).delete(key(h));
  }

  /** `h` is no longer in the cache because this process removed it: not to be reported as vanished. */
  private async removedHere(h: Handle): Promise<void> {
    this.known.delete(key(h));
    (await this.initial).delete(key(h));
  }

  private async drop(h: Handle, why: string): Promise<null> {
    await this.cache.remove(h).catch(() => false);
    await this.removedHere(h);
    this.report(`cache: ${describeHandle(h)} is damaged in the cache (${why}), re-fetched from the repository`);
    return null;
  }

  /** Download a whole file once (concurrent callers share it) and cache it if it is intact. */
  private fetch(h: Handle): Promise<Uint8Array> {
    const k = key(h);
    let p = this.inFlight.get(k);
    if (!p) {
      p = this.download(h).finally(() => this.inFlight.delete(k));
      this.inFlight.set(k, p);
    }
    return p;
  }

  private async download(h: Handle): Promise<Uint8Array> {
    const data = await this.inner.load({ type: h.type, name: h.name });
    // A file damaged on the server is not cached: the caller's check reports it.
    if (hashId(data) === h.name) await this.store(h, () => this.cache.write(h, data));
    return data;
  }

  /**
   * Fetch the files of `handles` the cache lacks, `concurrency` at a time (a tree walk then
   * finds every pack local instead of paying one round trip per level). Errors are left to
   * the reads that need the file.
   */
  warm(handles: Handle[], concurrency = WARM_CONCURRENCY): Promise<void> {
    const run = async () => {
      const todo: Handle[] = [];
      for (const h of handles) if (this.cacheable(h) && !this.inFlight.has(key(h)) && !(await this.cache.has(h))) todo.push(h);
      let next = 0;
      const worker = async () => {
        while (!this.closing && next < todo.length) await this.fetch(todo[next++]!).catch(() => undefined);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
    };
    const p = run().catch(() => undefined);
    this.warming.add(p);
    void p.finally(() => this.warming.delete(p));
    return p;
  }

  /**
   * The repository found a blob read through the cache bad: remove the cached copy so the
   * next read fetches it from the repository. False when nothing was removed (not cached, or
   * already forgotten once: the damage is then in the repository).
   */
  async forget(h: Handle, reason: string): Promise<boolean> {
    const k = key(h);
    if (!Cache.canCache(h.type) || this.forgotten.has(k)) return false;
    const removed = await this.cache.remove(h).catch(() => false);
    if (!removed) return false;
    this.forgotten.add(k);
    await this.removedHere(h);
    this.report(`cache: ${describeHandle(h)} failed verification in the cache (${reason}), re-fetched from the repository`);
    return true;
  }

  async stat(h: Handle): Promise<FileInfo> {
    try {
      return await this.inner.stat(h);
    } catch (err) {
      if (err instanceof NotFoundError) await this.cache.remove(h).catch(() => false);
      throw err;
    }
  }

  /**
   * Lists the repository. A complete listing of index or snapshot files prunes the cache and
   * starts fetching the listed files it lacks, several at once: they are read next.
   */
  async *list(type: FileType): AsyncGenerator<FileInfo> {
    const names = new Set<string>();
    for await (const fi of this.inner.list(type)) {
      names.add(fi.name);
      yield fi;
    }
    await this.listed(type, names);
  }

  /**
   * What a listing of the repository showed (this one's, or one made before the cache was
   * opened): cached index and snapshot files no longer listed go, missing ones are fetched.
   */
  async listed(type: FileType, names: ReadonlySet<string>): Promise<void> {
    if (type !== 'index' && type !== 'snapshot') return;
    await this.retain(type, (n) => names.has(n));
    void this.warm(
      [...names].map((name) => ({ type, name })),
      LISTED_CONCURRENCY,
    );
  }

  /** Remove cached files of `type` no longer in the repository (`keep` false). */
  async retain(type: FileType, keep: (name: string) => boolean): Promise<void> {
    try {
      await this.cache.clear(type, keep);
    } catch (err) {
      this.report(`cache: unable to remove stale ${type} files from ${this.cache.path}: ${(err as Error).message}`);
    }
  }

  async remove(h: Handle): Promise<void> {
    await this.inner.remove(h);
    await this.cache.remove(h).catch(() => false);
  }

  /** Stops warming (downloads under way finish), then closes the store. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.warming);
    this.cache.close();
    await this.inner.close();
  }
}

async function listAll(cache: Cache): Promise<Set<string>> {
  const out = new Set<string>();
  for (const type of ['index', 'snapshot', 'pack'] as const) for (const name of await cache.list(type)) out.add(key({ type, name }));
  return out;
}

function key(h: Handle): string {
  return `${h.type}/${h.name}`;
}

function slice(h: Handle, data: Uint8Array, offset: number, length: number): Uint8Array {
  const end = length > 0 ? offset + length : data.length;
  if (offset < 0 || offset > data.length || end > data.length) {
    throw new ResticError(`${describeHandle(h)}: range ${offset}+${length} is beyond the end of the file (${data.length} bytes)`);
  }
  return data.subarray(offset, end);
}

/** Whether caching pays for this store: not for a local or in-memory repository. */
export function isLocalStore(backend: Backend): boolean {
  let b = backend;
  while (b instanceof RetryBackend || b instanceof AbortableBackend) b = b.inner;
  return b instanceof LocalBackend || b instanceof MemoryBackend;
}

/**
 * Wrap `backend` with the cache of repository `repoId`. When the cache cannot be opened the
 * operation goes on without it (reported, as restic does).
 */
export async function useCache(backend: Backend, repoId: string, opts: CacheOptions = {}): Promise<Backend> {
  const report = opts.onEvent ?? (() => undefined);
  const base = opts.dir ?? defaultCacheBase();
  try {
    return new CachedBackend(backend, await Cache.open(repoId, base), report);
  } catch (err) {
    report(`unable to open cache: ${(err as Error).message}`);
    return backend;
  }
}
