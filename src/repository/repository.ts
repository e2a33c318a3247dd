/**
 * A restic repository: opens keys, holds the master key and index, and reads and
 * writes blobs, packs, trees, index and snapshot files over any Backend.
 */
import os from 'node:os';
import type { Backend, FileType, Handle } from '../backends/backend.js';
import { DryRunBackend } from '../backends/dry-run.js';
import {
  AbortedError,
  asAbortedError,
  checkArg,
  checkOptions,
  FormatError,
  IntegrityError,
  markFatal,
  NotFoundError,
  RepositoryNotFoundError,
  ResticError,
  throwIfAborted,
  UsageError,
} from '../errors.js';
import { type KdfParams, type MasterKey, calibrateKdf, decrypt, encrypt, loadPoly1305, newRandomKey } from '../crypto/index.js';
import { type FinishedPack, PackAssembler } from '../parallel/pack-assembler.js';
import {
  type BlobWindow,
  BlobPool,
  type BlobWorkerSpares,
  type HeldBlob,
  IN_PROCESS_DATA,
  workersAvailable,
} from '../parallel/blob-pool.js';
import { openStoredBlob } from '../format/blob-open.js';
import { randomPolynomial } from '../chunker/index.js';
import { type Config, decodeConfig, encodeConfig, MAX_REPO_VERSION } from '../format/config.js';
import { createKeyFile, decodeKeyFile, type KeyFile, openKeyFile } from '../format/key.js';
import { findKey, type OpenedKey } from './key-search.js';
import type { BlobType } from '../format/pack.js';
import {
  INDEX_MAX_BLOBS,
  type IndexFileToWrite,
  type IndexFile,
  type IndexPack,
  IndexStreamScanner,
  decodeIndexPacks,
  indexJsonBound,
  writeIndexJson,
} from '../format/index-file.js';
import { BlobIdSet, type BlobList, type BlobsView, blobIdInto } from '../format/blob-list.js';
import { MasterIndex } from './master-index.js';
import { enableWorkerGc, fullGc, noteGarbage } from '../parallel/worker-gc.js';
import { MAX_UNPACKED_SIZE, frameUnpacked, frameUnpackedWritten, unframeUnpacked, unpackedFrame } from '../format/unpacked.js';
import { type CompressionMode, zstdDecompressPieces } from '../compress/zstd.js';
import { type Snapshot, decodeSnapshot, encodeSnapshot } from '../format/snapshot.js';
import { type Node } from '../format/node.js';
import { decodeTree, decodeTreeBatches, encodeTree } from '../format/tree.js';
import { hashId, isId, randomId } from '../format/id.js';
import { type LockOptions, type LockStore, RepositoryLock, removeAllLocks, removeStaleLocks } from './lock.js';
import { decodeLock, type LockInfo } from '../format/lock-file.js';
import { compareGoTimes } from '../go/time.js';
import { mapLimit } from '../parallel/map-limit.js';
import { type CacheOptions, CachedBackend, isLocalStore, useCache } from '../cache/backend.js';
import type { KeyParams } from '../cache/key-params.js';
import { type MemoryBudget, memoryBudget, resolveMemoryLimit } from '../parallel/memory-budget.js';
import { PackSpool } from '../parallel/pack-spool.js';

/**
 * restic's default target pack size (16 MiB).
 *
 * @example
 * ```ts
 * const repo = await Repository.open(backend, pw, { packSize: 4 * DEFAULT_PACK_SIZE });
 * ```
 */
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
/** Packs uploaded in parallel while a backup continues (each held in memory). */
const UPLOAD_CONCURRENCY = 2;
/** Packs already written to temp files, being committed (fsync, rename) in parallel: no memory held. */
const COMMIT_CONCURRENCY = 4;
/** Queued blob bytes per worker below which it counts as having spare time (a few chunks' worth). */
const SPARE_QUEUE_BYTES = 4 * 1024 * 1024;
/** How long saveBlob may keep the event loop from running while uploads or workers need it. */
const YIELD_INTERVAL_MS = 2;
/** Trees of at least this many bytes are decoded in batches (decodeBigTree). */
const BIG_TREE_BYTES = 1024 * 1024;
/** How long decodeBigTree may keep the event loop from running. */
const YIELD_TREE_MS = 20;
/** Index files of at least this many blobs are written after a full garbage collection. */
const BIG_INDEX_BLOBS = 20_000;

/** Options of Repository.init(). */
export interface InitOptions {
  workers?: number;
  /** Cancels the init; an aborted init leaves no config file (no repository). */
  signal?: AbortSignal;
  /** Repository format version (default 2, as restic 0.14). */
  version?: number;
  compression?: CompressionMode;
  /** scrypt parameters for the first key; defaults to a restic-like calibration. */
  kdf?: KdfParams;
  /** Chunker polynomial; random by default. */
  polynomial?: bigint;
  packSize?: number;
  username?: string;
  hostname?: string;
  /** As OpenOptions.memoryLimit. */
  memoryLimit?: number | null;
  /** Told the new key file's salt and scrypt parameters (what a cache may remember, see cache/key-params.ts). */
  onKeyParams?: (kp: KeyParams) => void;
}

/** Options of Repository.open(). */
export interface OpenOptions {
  compression?: CompressionMode;
  /**
   * Worker threads that compress and encrypt blobs while the caller reads and chunks
   * (default: none on one core; else one, or one per core (at most 4) when data blobs are
   * compressed: zstd then outweighs reading and chunking. Without compression one worker and
   * the reader share the work, the SHA-256 of long blobs going to whichever is less busy).
   * By default they start only once a backup has more than a few MiB of new data; an explicit
   * count starts them with the first data blob.
   */
  workers?: number;
  packSize?: number;
  /** Key file ID (or prefix) to try first. */
  keyHint?: string;
  /**
   * The key search, already started (findKey from key.ts): scrypt then runs while the
   * caller loads the rest of the program. Awaited after the config file was read.
   */
  key?: Promise<OpenedKey>;
  /** The config file's bytes, already being read (for `key`). */
  config?: Promise<Uint8Array>;
  /** Blobs per index file written while saving (default restic's 50,000; lower in tests). */
  indexMaxBlobs?: number;
  /**
   * The local cache of index, snapshot and tree pack files (README "Local cache"): false for
   * none, or where to keep it. Default: the default cache directory for a remote store, none
   * for a local or in-memory one.
   */
  cache?: false | CacheOptions;
  /** Whether operations on this repository lock by default (see OperationOptions.lock; default true). */
  lock?: boolean;
  /** Cancels the open (the key search). */
  signal?: AbortSignal;
  /**
   * Listings already under way (file names), each used once, by the next listing of its type,
   * instead of asking the store again: the CLI's backup lists while scrypt runs.
   */
  listings?: Partial<Record<'lock' | 'index' | 'snapshot', Promise<string[]>>>;
  /**
   * Bytes this process may use (null: no limit); sizes workers and packs in flight. Default:
   * RESTIC_TS_MEMORY_LIMIT, else the container's cgroup limit.
   */
  memoryLimit?: number | null;
  /**
   * Stops work on this repository for good once it fires, where no operation's own signal
   * reaches (the CLI's per-command signal): decoding a big tree, which otherwise holds the
   * event loop for seconds, pauses between batches and rejects with AbortedError.
   */
  stopSignal?: AbortSignal;
}

/** Options every library operation takes: its lock and its cancellation. */
export interface OperationOptions {
  /**
   * The repository lock: by default (true) the operation takes the lock restic takes for it
   * (shared for backup, restore and reading, exclusive for prune, forget, rebuild-index, migrate
   * and key removal), refreshes it and releases it at the end. `false` runs without a lock
   * (the caller's choice, like restic's `--no-lock`); a RepositoryLock the caller holds is used
   * as it is.
   */
  lock?: boolean | RepositoryLock;
  /** How the lock is taken: wait for a held lock (`retryMs`), events. */
  lockOptions?: LockOptions;
  /** Cancels the operation: it then rejects with AbortedError (`code: 'ABORTED'`). */
  signal?: AbortSignal;
}

/** Options of addKey() and changePassword(). */
export interface AddKeyOptions extends OperationOptions {
  /** scrypt parameters; default: restic's calibration. */
  kdf?: KdfParams;
  /** Recorded in the key file; default: the current user and host. */
  username?: string;
  hostname?: string;
}

/** What Repository.saveBlob() did with a blob. */
export interface SaveBlobResult {
  id: string;
  /**
   * True when the blob was already stored (de-duplicated). A new blob's stored (encoded)
   * size is known only once it is encoded, possibly later on a worker: see `added`.
   */
  known: boolean;
  /** A new blob's stored size when it was encoded at once (in-process); absent when a worker encodes it. */
  stored?: number;
}

/**
 * A restic repository opened with a password (or created by `init`): its config, master key
 * and index, and the files and blobs in it. Operations such as backup() and restore() take one.
 *
 * @example
 * ```ts
 * const repo = await Repository.open(new LocalBackend('/srv/repo'), password);
 * for (const { id, snapshot } of await repo.listSnapshots()) console.log(id.slice(0, 8), snapshot.time);
 * await repo.close();
 * ```
 */
export class Repository {
  readonly index = new MasterIndex();
  compression: CompressionMode;
  packSize: number;
  /** Blobs sitting in an unfinished pack (not yet in the index), by binary ID. */
  private pendingBlobs = new BlobIdSet();
  private readonly uploads = new Set<Promise<void>>();
  private backgroundError: unknown = null;
  /** Stored packs not yet in an index file, with their blob counts (their blobs are in `index`). */
  private unsavedPacks: Array<{ id: string; blobs: number }> = [];
  private unsavedBlobs = 0;
  private readonly indexMaxBlobs: number;
  private indexLoaded = false;
  /** A background index load and the file names it read (null when it failed). */
  private indexPrefetch: Promise<string[] | null> | null = null;
  /** Decoded snapshots by file name (files are named by their content, so never stale). */
  private readonly snapshotCache = new Map<string, Snapshot>();
  private snapshotPrefetch: Promise<void> | null = null;
  /** OpenOptions.listings not used yet. */
  private readonly earlyListings: Map<FileType, Promise<string[]>>;
  /** The index files loadIndex() read (see indexStillListed). */
  private loadedIndexIds: string[] = [];
  /** Until it settles, pack, index and snapshot writes wait for it (see holdWrites). */
  private writeGate: Promise<void> | null = null;
  private pool: BlobPool | null = null;
  /** Blob workers started before the key was known (adoptBlobWorkers). */
  private spares: BlobWorkerSpares | null = null;
  /** Temp files for packs bound for a store without its own temp directory (remote ones). */
  private readonly spool: PackSpool;
  private lastYield = 0;
  private packAssembler: PackAssembler | null = null;
  private readonly workers: number | undefined;
  /** Data plaintext encoded on this thread before the workers started. */
  private inProcessData = 0;
  /** Bytes (as stored: compressed, encrypted) and blobs added to packs by this process. */
  readonly added = { data: 0, tree: 0, dataBlobs: 0, treeBlobs: 0 };
  /** Locks taken through acquireLock(): operations run under them without locking again. */
  private readonly heldLocks = new Set<RepositoryLock>();
  /**
   * Whether library operations lock by default (OpenOptions.lock). The CLI clears it for
   * `--no-lock`.
   */
  locking: boolean;
  /** What the memory limit allows: operations size their workers and buffers by it. */
  readonly memory: MemoryBudget;
  /** OpenOptions.stopSignal. */
  private readonly stopSignal?: AbortSignal;

  private constructor(
    /** The store; replaced by a DryRunBackend wrapper in setDryRun(). */
    public backend: Backend,
    readonly config: Config,
    readonly key: MasterKey,
    readonly keyId: string,
    opts: OpenOptions,
  ) {
    this.compression = opts.compression ?? 'auto';
    this.packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
    this.indexMaxBlobs = opts.indexMaxBlobs ?? INDEX_MAX_BLOBS;
    this.workers = opts.workers;
    this.locking = opts.lock ?? true;
    this.memory = memoryBudget(resolveMemoryLimit(opts.memoryLimit));
    this.spool = new PackSpool(this.memory.tight);
    // On a tight budget this thread encodes and decodes too: collect its buffer garbage as workers do.
    if (this.memory.tight) enableWorkerGc();
    this.stopSignal = opts.stopSignal;
    this.earlyListings = new Map(Object.entries(opts.listings ?? {}) as Array<[FileType, Promise<string[]>]>);
  }

  /**
   * restic's SetDryRun: from now on nothing is written or removed (reads still reach the
   * store), so an operation reports what it would do. Call before anything is saved.
   */
  setDryRun(): void {
    if (!(this.backend instanceof DryRunBackend)) this.backend = new DryRunBackend(this.backend);
  }

  get dryRun(): boolean {
    return this.backend instanceof DryRunBackend;
  }

  get version(): number {
    return this.config.version;
  }

  /** The cache's base directory, when this repository reads through a local cache. */
  cacheDir(): string | undefined {
    return this.backend instanceof CachedBackend ? this.backend.cache.base : undefined;
  }

  /** Create a new repository and return it opened. */
  static async init(backend: Backend, password: string, opts: InitOptions = {}): Promise<Repository> {
    checkOpenArgs('Repository.init', backend, password, opts);
    const signal = opts.signal;
    const version = opts.version ?? 2;
    if (!Number.isInteger(version) || version < 1 || version > MAX_REPO_VERSION) {
      throw new UsageError(`repository version ${version} is not supported (use 1 or 2)`);
    }
    if (version < 2 && opts.compression && opts.compression !== 'auto' && opts.compression !== 'off') {
      throw new UsageError('compression requires repository version 2');
    }
    if (await exists(backend, { type: 'config', name: 'config' })) {
      throw new ResticError(`repository at ${backend.location} already exists (config file found)`);
    }
    const mac = loadPoly1305();
    throwIfAborted(signal, 'Repository.init');
    await backend.create({ signal });
    const master = newRandomKey();
    const params = opts.kdf ?? (await calibrateKdf());
    const key = await createKeyFile(password, master, params, opts);
    const config: Config = { version, id: randomId(), chunkerPolynomial: opts.polynomial ?? randomPolynomial() };
    throwIfAborted(signal, 'Repository.init');
    await backend.save({ type: 'key', name: key.id }, key.bytes, { signal, sha256: key.id });
    opts.onKeyParams?.({ keyId: key.id, salt: key.key.salt, params });
    // The config last: until it exists there is no repository, so an abort leaves none.
    throwIfAborted(signal, 'Repository.init');
    await backend.save({ type: 'config', name: 'config' }, encrypt(master, encodeConfig(config)), { signal });
    await mac;
    return new Repository(backend, config, master, key.id, {
      compression: version < 2 ? 'off' : opts.compression,
      packSize: opts.packSize,
      workers: opts.workers,
      memoryLimit: opts.memoryLimit,
    });
  }

  /** Open an existing repository with a password, trying each key file as restic does. */
  static async open(backend: Backend, password: string, opts: OpenOptions = {}): Promise<Repository> {
    checkOpenArgs('Repository.open', backend, password, opts);
    for (const l of Object.values(opts.listings ?? {})) l.catch(() => undefined); // a failed one is listed again
    try {
      return await Repository.openChecked(backend, password, opts);
    } catch (err) {
      throw asAbortedError(err, opts.signal, 'Repository.open');
    }
  }

  private static async openChecked(backend: Backend, password: string, opts: OpenOptions): Promise<Repository> {
    const { signal } = opts;
    throwIfAborted(signal, 'Repository.open');
    let configBytes: Uint8Array;
    try {
      configBytes = await (opts.config ?? backend.load({ type: 'config', name: 'config' }, 0, 0, { signal }));
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new RepositoryNotFoundError(`repository does not exist: unable to open config file at ${backend.location}`, { cause: err });
      }
      throw err;
    }
    const { master, keyId } = await (opts.key ?? findKey(backend, password, opts.keyHint, signal));
    // findKey starts loading the WASM MAC while scrypt runs on the thread pool
    await loadPoly1305();
    throwIfAborted(signal, 'Repository.open');
    let config: Config;
    try {
      config = decodeConfig(decrypt(master, configBytes));
    } catch (err) {
      throw new IntegrityError(`config file: ${(err as Error).message}`, { cause: err });
    }
    const compression = config.version < 2 ? 'off' : opts.compression;
    const cache = opts.cache ?? (isLocalStore(backend) ? false : {});
    const store = cache ? await useCache(backend, config.id, cache) : backend;
    return new Repository(store, config, master, keyId, { ...opts, compression });
  }

  // ---- unpacked files (index, snapshot, lock) ----

  async saveUnpacked(type: 'index' | 'snapshot' | 'lock', json: Uint8Array): Promise<string> {
    return this.saveFramed(type, frameUnpacked(json, this.version));
  }

  /** An index file, its JSON written straight into the compressor's input (see frameUnpackedWritten). */
  async saveIndexFile(idx: IndexFileToWrite): Promise<string> {
    return this.saveFramed(
      'index',
      frameUnpackedWritten(indexJsonBound(idx), (out) => writeIndexJson(idx, out), this.version),
    );
  }

  private async saveFramed(type: 'index' | 'snapshot' | 'lock', framed: Uint8Array): Promise<string> {
    const data = encrypt(this.key, framed);
    const id = hashId(data);
    if (type !== 'lock') await this.writeGate; // the lock is what the gate waits for
    await this.backend.save({ type, name: id }, data, { sha256: id });
    return id;
  }

  /**
   * Until `gate` settles, packs, index and snapshot files wait to be written (lock files do
   * not); if it rejects, so do they, and the work that wanted them fails. Lets an operation
   * read and compute while its lock settles (restic waits 200 ms after writing a lock).
   */
  holdWrites(gate: Promise<unknown>): void {
    const held: Promise<void> = gate.then(() => {
      if (this.writeGate === held) this.writeGate = null;
    });
    held.catch(() => undefined); // the writes waiting on it report it
    this.writeGate = held;
  }

  /** Settles when writes may go (see holdWrites). */
  async writesAllowed(): Promise<void> {
    await this.writeGate;
  }

  /** No writes wait on a gate any more (the gate's rejection was handled). */
  releaseWrites(): void {
    this.writeGate = null;
  }

  /**
   * Whether every index file loadIndex() read is still in the repository. Only an exclusive
   * operation (prune, rebuild-index) removes index files; asked once the lock is held, true
   * means the loaded index is as good as one loaded under the lock.
   */
  async indexStillListed(): Promise<boolean> {
    const now = new Set<string>();
    for await (const f of this.backend.list('index')) now.add(f.name);
    return this.loadedIndexIds.every((id) => now.has(id));
  }

  /** Drop the loaded index and snapshots: the next loadIndex() and listSnapshots() read again. */
  forgetLoaded(): void {
    this.index.clear();
    this.indexLoaded = false;
    this.indexPrefetch = null;
    this.loadedIndexIds = [];
    this.snapshotCache.clear();
    this.snapshotPrefetch = null;
  }

  /** Load and verify (name = SHA-256 of content) an unpacked file, and decrypt it (not key files). */
  private async loadDecrypted(type: 'index' | 'snapshot' | 'lock' | 'key', id: string): Promise<Uint8Array> {
    const data = await this.backend.load({ type, name: id });
    const what = `${type} file ${id}`;
    if (hashId(data) !== id) throw new IntegrityError(`${what}: content does not match its name (file is damaged)`);
    if (type === 'key') return data;
    try {
      return decrypt(this.key, data);
    } catch (err) {
      throw new IntegrityError(`${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * An index file pack by pack (decodeIndexPacks). On a tight memory budget a compressed one
   * is decompressed and scanned in pieces, so its JSON (tens of MiB for restic's 150,000-blob
   * files) never exists whole; anything unexpected there is decoded again the usual way,
   * which reports it as before.
   * @internal
   */
  async decodeIndexFile(id: string, onPack: (p: IndexPack) => void, onRestart?: () => void): Promise<Omit<IndexFile, 'packs'>> {
    const plain = await this.loadDecrypted('index', id);
    const frame = this.memory.tight ? unpackedFrame(plain, this.version) : null;
    if (frame) {
      const head = scanIndexPieces(id, frame, onPack);
      if (head) return head;
      onRestart?.();
    }
    return decodeIndexPacks(this.unframe('index', id, plain), id, onPack, onRestart);
  }

  /** Load, verify (name = SHA-256 of content), decrypt and unframe an unpacked file. */
  async loadUnpacked(type: 'index' | 'snapshot' | 'lock' | 'key', id: string): Promise<Uint8Array> {
    const plain = await this.loadDecrypted(type, id);
    return type === 'key' ? plain : this.unframe(type, id, plain);
  }

  /** The JSON of a decrypted unpacked file (decompressed in v2). */
  private unframe(type: 'index' | 'snapshot' | 'lock', id: string, plain: Uint8Array): Uint8Array {
    try {
      // an index file's JSON can be tens of MiB: on a tight budget not through the WASM heap
      return unframeUnpacked(plain, this.version, type === 'index' && this.memory.tight);
    } catch (err) {
      throw new IntegrityError(`${type} file ${id}: ${(err as Error).message}`, { cause: err });
    }
  }

  async *listIds(type: FileType): AsyncGenerator<string> {
    const early = this.earlyListings.get(type);
    this.earlyListings.delete(type);
    const names = early && (await early.catch(() => null)); // a failed one is asked again
    if (names) {
      if (this.backend instanceof CachedBackend) await this.backend.listed(type, new Set(names));
      yield* names;
      return;
    }
    for await (const f of this.backend.list(type)) yield f.name;
  }

  // ---- index ----

  async loadIndex(): Promise<void> {
    const ids: string[] = [];
    for await (const id of this.listIds('index')) ids.push(id);
    const prefetch = this.indexPrefetch;
    if (prefetch) {
      this.indexPrefetch = null;
      const loaded = await prefetch;
      // Index files are named by their content: the same names mean the same index.
      if (loaded && loaded.length === ids.length && loaded.every((id, i) => id === ids[i])) {
        this.indexLoaded = true;
        this.loadedIndexIds = ids;
        await this.backend.retain?.('pack', (name) => this.index.hasPack(name));
        this.warmTreePacks();
        return;
      }
      this.index.clear(); // changed (e.g. a prune finished meanwhile) or failed: start over
    }
    await this.readIndexFiles(ids);
    this.indexLoaded = true;
    this.loadedIndexIds = ids;
    await this.backend.retain?.('pack', (name) => this.index.hasPack(name));
    this.warmTreePacks();
  }

  /**
   * With a cache: fetch the index and snapshot files into it, then the tree packs those index
   * files name, e.g. while a lock settles (restic waits 200 ms after writing one), so the work
   * after it reads locally. Nothing is kept in memory and nothing trusted: the work lists
   * again under the lock and verifies what it reads from the cache.
   */
  async warmCache(): Promise<void> {
    const cache = this.backend;
    if (!(cache instanceof CachedBackend)) return;
    const names = async (type: FileType) => {
      const out: string[] = [];
      for await (const f of cache.list(type)) out.push(f.name);
      return out;
    };
    const [index] = await Promise.all([names('index'), names('snapshot')]);
    await cache.warm(index.map((name) => ({ type: 'index', name })));
    const trees = new Set<string>();
    for (const id of index) {
      await this.decodeIndexFile(id, (p) => {
        if (p.blobs[0]?.type === 'tree') trees.add(p.id);
      });
    }
    await cache.warm([...trees].map((name) => packHandle(name, 'tree')));
  }

  /**
   * With a cache: start fetching the tree packs it lacks, several at once, in the background
   * (reads of those packs wait for them; close() stops it). `index` replaces the repository's
   * own (check).
   */
  warmTreePacks(index: MasterIndex = this.index): void {
    if (!(this.backend instanceof CachedBackend)) return;
    const packs: Handle[] = [];
    for (const id of index.packIds()) {
      const blobs = index.packBlobs(id);
      if (blobs && blobs.length && blobs.type(0) === 'tree') packs.push(packHandle(id, 'tree'));
    }
    if (packs.length) void this.backend.warm(packs);
  }

  /**
   * Start loading the index in the background, e.g. while a lock settles (restic waits
   * 200 ms after writing its lock). The next loadIndex() re-lists the index files and keeps
   * this work only if the listing is unchanged, so it sees what a load after the lock sees.
   */
  prefetchIndex(): void {
    if (this.indexPrefetch || this.indexLoaded) return;
    this.indexPrefetch = (async () => {
      const ids: string[] = [];
      for await (const id of this.listIds('index')) ids.push(id);
      await this.readIndexFiles(ids);
      return ids;
    })().catch(() => null); // loadIndex() reloads and reports the error
  }

  private async readIndexFiles(ids: string[]): Promise<void> {
    // A big index file's JSON and its parsed objects are tens of MiB: one at a time on a tight budget.
    await mapLimit(ids, this.memory.tight ? 1 : 4, async (id) => {
      // Pack by pack into the master index: a whole file's parsed objects never exist at once.
      const packs: IndexPack[] = [];
      await this.decodeIndexFile(
        id,
        (p) => {
          if (this.version < 2 && p.blobs.some((b) => b.uncompressedLength)) {
            throw new FormatError(`index ${id}: compressed blobs in a version 1 repository`);
          }
          packs.push(p);
          if (packs.length >= 64) this.index.addIndex(packs.splice(0));
        },
        () => (packs.length = 0),
      );
      this.index.addIndex(packs);
    });
  }

  private async ensureIndex(): Promise<void> {
    if (!this.indexLoaded) await this.loadIndex();
  }

  // ---- blobs ----

  /**
   * Store a blob unless the index or an open pack already has it. Compression, encryption
   * and pack assembly may run on a worker thread; the blob is then in flight when this
   * resolves (its bytes already copied: the caller may reuse its buffer).
   * Call flush() to finish packs and write the index.
   */
  async saveBlob(type: BlobType, plaintext: Uint8Array, id?: string): Promise<SaveBlobResult> {
    await this.ensureIndex();
    const blobId = id ?? hashId(plaintext);
    if (!this.claim(type, blobId)) return { id: blobId, known: true };
    await this.uploadRoom();
    const pool = this.pool ?? (type === 'data' && this.worthWorkers(plaintext.length) ? this.blobPool() : null);
    if (!pool) {
      if (type === 'data') this.inProcessData += plaintext.length;
      const { stored, pack } = this.assembler().add(type, blobId, plaintext);
      noteGarbage(plaintext.length);
      this.countStored(type, stored);
      if (pack) this.startPack(pack, () => this.assembler().recycle(pack.bytes));
      return { id: blobId, known: false, stored };
    }
    await pool.add(type, blobId, plaintext);
    return { id: blobId, known: false };
  }

  /**
   * Whether this process should store the blob: false when the index or an open pack
   * already has it; else it is marked pending (in a pack not yet stored) and true.
   */
  private claim(type: BlobType, id: string): boolean {
    const bytes = blobIdInto(id, claimScratch);
    if (this.pendingBlobs.has(type, bytes) || this.index.hasId(type, bytes)) return false;
    this.pendingBlobs.add(type, bytes);
    return true;
  }

  /**
   * The caller's read/chunk loop only awaits promises that are already settled, so without
   * this the event loop would never run while it is busy: uploads (each a chain of I/O
   * callbacks) and worker messages would progress only when the loop blocks on back-pressure.
   * Give the loop a turn every few milliseconds while something is in flight.
   */
  private async yieldToEventLoop(): Promise<void> {
    if (!this.uploads.size && !this.pool?.busy) return;
    this.pool?.send();
    const now = performance.now();
    if (now - this.lastYield < YIELD_INTERVAL_MS) return;
    this.lastYield = now;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Back-pressure: never more than UPLOAD_CONCURRENCY finished packs held in memory (fewer on a tight budget). */
  private async uploadRoom(): Promise<void> {
    const streamed = this.backend.adoptTempFile || this.backend.saveFile;
    const limit = this.pool?.writesFiles && streamed ? COMMIT_CONCURRENCY : this.memory.packsInFlight(UPLOAD_CONCURRENCY);
    if (this.uploads.size >= limit) {
      this.pool?.send(); // the workers keep encoding meanwhile
      while (this.uploads.size >= limit) await Promise.race(this.uploads);
    }
    await this.yieldToEventLoop();
    this.throwBackgroundError();
  }

  // ---- the blob window: file contents read straight into the workers' ring ----

  /**
   * A window into the workers' shared ring for reading file contents in place (no copy
   * between the read and the pack), or null when blobs are encoded in-process. Only one
   * window may be open; close it with closeBlobWindow(). `expectedBytes` (the file's size)
   * lets a small file of a mostly unchanged backup go in-process without starting workers.
   * @internal
   */
  async openBlobWindow(expectedBytes = Infinity): Promise<BlobWindow | null> {
    await this.ensureIndex();
    const pool = this.pool ?? (this.worthWorkers(expectedBytes) ? this.blobPool() : null);
    return pool ? pool.openWindow() : null;
  }

  /**
   * Whether `bytes` more of new data justify starting the workers (see IN_PROCESS_DATA). On a
   * tight memory budget they start at once: this thread's own pack and read buffers would
   * otherwise stay allocated beside the workers' for the rest of the backup.
   */
  private worthWorkers(bytes: number): boolean {
    return this.workers !== undefined || this.memory.tight || this.spares !== null || this.inProcessData + bytes > IN_PROCESS_DATA;
  }

  /**
   * Use blob workers the caller started while the key was derived (a backup that expects new
   * data): data goes to them from the first blob. Those not needed are stopped.
   * @internal
   */
  adoptBlobWorkers(spares: BlobWorkerSpares): void {
    if (this.pool || this.spares) void spares.close();
    else this.spares = spares;
  }

  /**
   * Make at least `min` bytes writable at the window's end (may move the window's data).
   * @internal
   */
  growBlobWindow(w: BlobWindow, min: number): Promise<void> {
    return this.pool!.grow(w, min);
  }

  /**
   * The reader wrote `n` bytes at the window's end.
   * @internal
   */
  fillBlobWindow(w: BlobWindow, n: number): void {
    this.pool!.fill(w, n);
  }

  /**
   * saveBlob() of a data blob: the next `len` bytes of the window, which then moves past them.
   * @internal
   */
  async saveWindowBlob(w: BlobWindow, len: number): Promise<SaveBlobResult> {
    const blobId = hashId(w.bytes.subarray(w.start, w.start + len));
    if (!this.claim('data', blobId)) {
      this.pool!.take(w, len, 'data', null);
      return { id: blobId, known: true };
    }
    await this.uploadRoom();
    this.pool!.take(w, len, 'data', blobId);
    return { id: blobId, known: false };
  }

  /**
   * Whether the workers have little queued, so handing them a blob's SHA-256 keeps both sides busy.
   * @internal
   */
  workersHaveSpareTime(): boolean {
    return this.pool !== null && this.pool.queuedBytes < SPARE_QUEUE_BYTES * this.pool.workerCount;
  }

  /**
   * saveWindowBlob() with the SHA-256 computed by a worker, so the caller can read and chunk
   * on meanwhile: the window moves on at once; `result` settles once the blob's ID is known
   * and the blob is queued (new) or dropped (already stored).
   * @internal
   */
  async deferWindowBlob(w: BlobWindow, len: number): Promise<{ result: Promise<SaveBlobResult> }> {
    await this.uploadRoom();
    const held = this.pool!.hold(w, len, 'data');
    return { result: held.id.then((id) => this.decideHeld(held, id)) };
  }

  private decideHeld(held: HeldBlob, blobId: string): SaveBlobResult {
    if (!this.claim(held.type, blobId)) {
      this.pool!.drop(held);
      return { id: blobId, known: true };
    }
    this.pool!.store(held, blobId);
    return { id: blobId, known: false };
  }

  /** @internal */
  closeBlobWindow(w: BlobWindow): void {
    this.pool?.closeWindow(w);
  }

  /** This thread's packs: in memory, or (tight memory budget) written to temp files as they grow. */
  private assembler(): PackAssembler {
    const tempDir = this.memory.tight ? (this.packTempDir() ?? null) : null;
    return (this.packAssembler ??= new PackAssembler(this.key, this.version, this.compression, this.packSize, tempDir));
  }

  private startPack(pack: FinishedPack, recycle: () => void): void {
    if (pack.file) this.startCommit(pack.id, pack.file, pack.blobs);
    else this.startUpload(pack.id, pack.bytes, pack.blobs, recycle);
  }

  private workerCount(): number {
    if (this.workers !== undefined) return this.workers;
    const cores = os.availableParallelism();
    if (cores < 2) return 0;
    return this.memory.backupWorkers(this.version >= 2 && this.compression !== 'off' ? Math.min(cores, 4) : 1);
  }

  private blobPool(): BlobPool | null {
    const workers = this.workerCount();
    if (!this.pool && workers > 0 && workersAvailable()) {
      this.pool = new BlobPool({
        key: this.key,
        version: this.version,
        compression: this.compression,
        packSize: this.packSize,
        workers,
        // A store with a temp directory (local) gets packs written in place as they are assembled: no pack is held in memory.
        tempDir: this.packTempDir(),
        onPack: (p) => (p.file ? this.startCommit(p.id, p.file, p.list) : this.startUpload(p.id, p.bytes, p.list, p.recycle)),
        onStored: (type, stored) => this.countStored(type, stored),
        holdFreedMemory: this.memory.holdFreedMemory,
        workerLimits: this.memory.workerLimits,
        spares: this.spares ?? undefined,
      });
    }
    return this.pool;
  }

  private countStored(type: BlobType, stored: number): void {
    this.added[type] += stored;
    this.added[type === 'data' ? 'dataBlobs' : 'treeBlobs']++;
  }

  /** Save a finished pack; its blobs enter the index once the backend has it (fsynced for local). */
  private startUpload(id: string, bytes: Uint8Array, blobs: BlobList, recycle: () => void): void {
    const h = packHandle(id, packType(blobs));
    const save = () => this.backend.save(h, bytes, { sha256: id });
    const saved = this.writeGate ? this.writeGate.then(save) : save();
    this.track(saved.then(recycle), id, blobs);
  }

  /**
   * Where workers write packs as they assemble them: the store's own temp directory (local),
   * else a spool of temp files uploaded by streaming (stores that stream uploads, or any
   * store under a tight memory budget); undefined: packs are assembled in memory.
   */
  private packTempDir(): string | undefined {
    if (this.backend.packTempDir) return this.backend.packTempDir();
    return this.backend.saveFile || this.memory.tight ? this.spool.tempDir() : undefined;
  }

  /** Commit a pack a worker wrote to a temp file: adopted by the store (local) or uploaded from the spool. */
  private startCommit(id: string, file: string, blobs: BlobList): void {
    const h = packHandle(id, packType(blobs));
    const commit = () => (this.backend.adoptTempFile ? this.backend.adoptTempFile(h, file) : this.spool.upload(this.backend, h, file));
    const refused = async (err: unknown) => {
      await this.spool.discard(file);
      throw err;
    };
    this.track(this.writeGate ? this.writeGate.then(commit, refused) : commit(), id, blobs);
  }

  private track(saved: Promise<void>, id: string, blobs: BlobList): void {
    this.inBackground(
      saved.then(() => {
        this.index.addPack(id, blobs);
        this.unsavedPacks.push({ id, blobs: blobs.length });
        this.unsavedBlobs += blobs.length;
        for (let i = 0; i < blobs.length; i++) this.pendingBlobs.delete(blobs.type(i), blobs.idBytes(i));
        // As restic: an index file as soon as stored packs fill one, not all at the end
        // (flush() waits for it like an upload).
        if (this.unsavedBlobs >= this.indexMaxBlobs) this.inBackground(this.saveIndexBatch());
      }),
    );
  }

  /** Count `work` among the uploads: flush() waits for it, and its error fails the next save. */
  private inBackground(work: Promise<unknown>): void {
    const p: Promise<void> = work
      .then(() => undefined)
      .catch((err) => {
        // A lost upload ends the command: every later save would fail with it again.
        this.backgroundError ??= typeof err === 'object' && err !== null ? markFatal(err) : err;
      })
      .finally(() => this.uploads.delete(p));
    this.uploads.add(p);
  }

  private throwBackgroundError(): void {
    if (this.backgroundError) throw this.backgroundError;
  }

  /** Finish open packs, wait for uploads and write an index for the new packs. */
  async flush(): Promise<void> {
    if (this.pool) await this.pool.flush();
    if (this.packAssembler) {
      for (const type of ['data', 'tree'] as const) {
        const pack = this.packAssembler.finish(type);
        if (pack) this.startPack(pack, () => undefined);
      }
    }
    while (this.uploads.size) await Promise.all(this.uploads);
    this.throwBackgroundError();
    await this.saveIndexOfNewPacks();
  }

  private async saveIndexOfNewPacks(): Promise<void> {
    while (this.unsavedPacks.length) await this.saveIndexBatch();
  }

  /** Write one index file for stored packs not yet in one. */
  private saveIndexBatch(): Promise<string> {
    const { packs, blobs } = this.takeIndexBatch();
    // A big index file is the backup's largest transient (its JSON in zstd's input, the
    // frame, its ciphertext). Collect first: the heap then gives back the garbage of the
    // thousands of files read since the last full collection, and the pack blob lists
    // just indexed return to malloc to be reused here instead of the process growing.
    if (blobs >= BIG_INDEX_BLOBS) fullGc()?.();
    return this.saveIndexFile({ supersedes: [], packs });
  }

  /** Stored packs not yet in an index file, up to indexMaxBlobs blobs' worth. */
  private takeIndexBatch(): { packs: Array<{ id: string; blobs: BlobsView }>; blobs: number } {
    const packs: Array<{ id: string; blobs: BlobsView }> = [];
    let blobs = 0;
    while (this.unsavedPacks.length && blobs < this.indexMaxBlobs) {
      const p = this.unsavedPacks.shift()!;
      packs.push({ id: p.id, blobs: this.index.packBlobs(p.id)! });
      blobs += p.blobs;
    }
    this.unsavedBlobs -= blobs;
    return { packs, blobs };
  }

  /**
   * Load a blob, verifying MAC and SHA-256; tries every indexed copy before failing. `index`
   * replaces the repository's own (check and prune load trees through the index they built).
   */
  async loadBlob(type: BlobType, id: string, index?: MasterIndex): Promise<Uint8Array> {
    if (!index) {
      await this.ensureIndex();
      index = this.index;
    }
    const locs = index.lookup(type, id);
    if (!locs.length) throw new NotFoundError(`${type} blob ${id} is not in the index`);
    try {
      return await this.loadBlobFrom(locs, type, id);
    } catch (err) {
      // As restic: a copy in a cache may be what is damaged; drop it and read the store.
      if (!this.backend.forget) throw err;
      let forgot = false;
      for (const loc of locs) {
        if (await this.backend.forget(packHandle(loc.packId, type), (err as Error).message)) forgot = true;
      }
      if (!forgot) throw err;
      return this.loadBlobFrom(locs, type, id);
    }
  }

  private async loadBlobFrom(locs: ReturnType<MasterIndex['lookup']>, type: BlobType, id: string): Promise<Uint8Array> {
    let lastErr: unknown;
    for (const loc of locs) {
      try {
        const data = await this.backend.load(packHandle(loc.packId, type), loc.offset, loc.length);
        return this.openBlob(data, type, id, loc.packId, loc.uncompressedLength);
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /**
   * Decrypt, decompress and verify one stored blob.
   * @internal
   */
  openBlob(stored: Uint8Array, type: BlobType, id: string, packId: string, uncompressedLength: number): Uint8Array {
    return openStoredBlob(this.key, stored, type, id, packId, uncompressedLength);
  }

  // ---- trees ----

  async loadTree(id: string): Promise<Node[]> {
    const bytes = await this.loadBlob('tree', id);
    try {
      return bytes.length < BIG_TREE_BYTES ? decodeTree(bytes) : await this.decodeBigTree(bytes);
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      throw new FormatError(`tree ${id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A big tree decoded in batches, letting the event loop run (signals, timers, I/O) between them. */
  private async decodeBigTree(bytes: Uint8Array): Promise<Node[]> {
    const nodes: Node[] = [];
    let turn = performance.now();
    for (const batch of decodeTreeBatches(bytes)) {
      for (const n of batch) nodes.push(n);
      if (performance.now() - turn < YIELD_TREE_MS) continue;
      await new Promise<void>((resolve) => setImmediate(resolve));
      throwIfAborted(this.stopSignal, 'loading a tree');
      turn = performance.now();
    }
    return nodes;
  }

  async saveTree(nodes: Node[]): Promise<string> {
    return (await this.saveBlob('tree', encodeTree(nodes))).id;
  }

  // ---- snapshots ----

  async saveSnapshot(s: Snapshot): Promise<string> {
    return this.saveUnpacked('snapshot', encodeSnapshot(s));
  }

  async loadSnapshot(id: string): Promise<Snapshot> {
    return decodeSnapshot(await this.loadUnpacked('snapshot', id), id);
  }

  /**
   * Read every snapshot in the background (see prefetchIndex); listSnapshots() still lists
   * the directory and only reuses files that are still there.
   */
  prefetchSnapshots(): void {
    this.snapshotPrefetch ??= (async () => {
      const ids: string[] = [];
      for await (const id of this.listIds('snapshot')) ids.push(id);
      await mapLimit(ids, 8, async (id) => {
        if (!this.snapshotCache.has(id)) this.snapshotCache.set(id, decodeSnapshot(await this.loadUnpacked('snapshot', id), id));
      });
    })().catch(() => undefined); // listSnapshots() reads again and reports errors
  }

  /**
   * All snapshots, oldest first. With `onError`, a snapshot file that cannot be read or
   * decoded is reported there and left out (restic's "could not load snapshot"); without
   * it the first such file fails the call (what prune and backup need).
   */
  async listSnapshots(onError?: (id: string, err: unknown) => void): Promise<Array<{ id: string; snapshot: Snapshot }>> {
    const ids: string[] = [];
    for await (const id of this.listIds('snapshot')) ids.push(id);
    if (this.snapshotPrefetch) await this.snapshotPrefetch;
    const out = await mapLimit(ids, 8, async (id) => {
      const cached = this.snapshotCache.get(id);
      if (cached) return { id, snapshot: structuredClone(cached) };
      try {
        return { id, snapshot: await this.loadSnapshot(id) };
      } catch (err) {
        if (!onError) throw err;
        onError(id, err);
        return null;
      }
    });
    return out.filter((e) => e !== null).sort((a, b) => compareGoTimes(a.snapshot.time, b.snapshot.time));
  }

  /**
   * Resolve "latest", a full ID or a unique prefix. `filter` narrows "latest"
   * (e.g. by host or path), as restic's --host/--path do.
   */
  async findSnapshot(spec: string, filter?: (s: Snapshot) => boolean): Promise<{ id: string; snapshot: Snapshot }> {
    if (spec === 'latest') {
      const all = (await this.listSnapshots()).filter((s) => !filter || filter(s.snapshot));
      const last = all[all.length - 1];
      if (!last) throw new NotFoundError('no snapshot found');
      return last;
    }
    const id = await this.resolveId('snapshot', spec);
    return { id, snapshot: await this.loadSnapshot(id) };
  }

  /** Full ID for a unique prefix of a file name. */
  async resolveId(type: FileType, prefix: string): Promise<string> {
    if (isId(prefix)) return prefix;
    if (!/^[0-9a-f]+$/.test(prefix)) throw new UsageError(`invalid ID ${JSON.stringify(prefix)}`);
    let found: string | undefined;
    for await (const id of this.listIds(type)) {
      if (!id.startsWith(prefix)) continue;
      if (found) throw new UsageError(`prefix ${prefix} is ambiguous (matches ${found.slice(0, 8)} and ${id.slice(0, 8)})`);
      found = id;
    }
    if (!found) throw new NotFoundError(`no ${type} file found with ID ${prefix}`);
    return found;
  }

  // ---- locks ----

  /**
   * Take a lock as restic does (write it, wait, look for conflicts); it is refreshed
   * while held. Conflicting stale locks are removed and reported through `opts.onEvent`.
   */
  async acquireLock(exclusive: boolean, opts: LockOptions = {}): Promise<RepositoryLock> {
    const lock = await RepositoryLock.acquire(this.lockStore(), exclusive, opts);
    this.heldLocks.add(lock);
    return lock;
  }

  /**
   * Run a library operation under the lock restic takes for it, unless `how.lock` opts out
   * (false) or names a lock the caller holds, or this repository already holds a strong
   * enough lock (a caller's acquireLock()). Aborts become AbortedError.
   * @internal
   */
  async runLocked<T>(
    what: string,
    exclusive: boolean,
    how: OperationOptions | undefined,
    fn: () => Promise<T>,
    writes = false,
  ): Promise<T> {
    const signal = how?.signal;
    const own = await this.lockFor(what, exclusive, how);
    try {
      return await fn();
    } catch (err) {
      // A failed or cancelled write leaves no temp files and no uploads running behind it.
      if (writes) await this.abandonWrites().catch(() => undefined);
      throw asAbortedError(err, signal, what);
    } finally {
      await own?.release();
    }
  }

  /**
   * After a failed or cancelled save: stop the workers (they remove their temp files), let
   * uploads in flight settle and forget unfinished packs. Packs already stored stay, not in
   * any index file, as after an interrupted restic backup (prune removes them).
   */
  async abandonWrites(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
    while (this.uploads.size) await Promise.allSettled([...this.uploads]);
    this.packAssembler = null;
    this.pendingBlobs = new BlobIdSet();
    this.backgroundError = null;
  }

  /**
   * runLocked() for an async iteration: the lock is held until it ends or is left early.
   * @internal
   */
  async *iterateLocked<T>(
    what: string,
    exclusive: boolean,
    how: OperationOptions | undefined,
    make: () => AsyncIterable<T>,
  ): AsyncGenerator<T> {
    const signal = how?.signal;
    const own = await this.lockFor(what, exclusive, how);
    try {
      for await (const item of make()) {
        throwIfAborted(signal, what);
        yield item;
      }
    } catch (err) {
      throw asAbortedError(err, signal, what);
    } finally {
      await own?.release();
    }
  }

  /** The lock an operation must take itself (null: opted out, passed in, or already held). */
  private async lockFor(what: string, exclusive: boolean, how: OperationOptions | undefined): Promise<RepositoryLock | null> {
    if (!this.takesLock(what, exclusive, how)) return null;
    // Not recorded in heldLocks: it ends with this operation, so others must not lean on it.
    return RepositoryLock.acquire(this.lockStore(), exclusive, { ...how?.lockOptions, signal: how?.signal });
  }

  /**
   * Whether an operation with these options takes a lock of its own: not with `lock: false`,
   * a lock the caller holds, or one this repository already holds. Checks the options.
   * @internal
   */
  takesLock(what: string, exclusive: boolean, how: OperationOptions | undefined): boolean {
    checkOptions(how, what);
    const { lock, signal } = how ?? {};
    throwIfAborted(signal, what);
    if (lock instanceof RepositoryLock) {
      checkArg(!lock.isReleased, what, 'options.lock to be a lock that is still held', lock);
      checkArg(lock.exclusive || !exclusive, what, 'options.lock to be an exclusive lock', lock);
      return false;
    }
    checkArg(lock === undefined || typeof lock === 'boolean', what, 'options.lock to be a boolean or a RepositoryLock', lock);
    return lock !== false && this.locking && !this.holdsLock(exclusive);
  }

  private holdsLock(exclusive: boolean): boolean {
    for (const l of this.heldLocks) {
      if (l.isReleased) this.heldLocks.delete(l);
      else if (l.exclusive || !exclusive) return true;
    }
    return false;
  }

  /** acquireLock() returning just the release function. */
  async lock(exclusive: boolean, opts: LockOptions = {}): Promise<() => Promise<void>> {
    const l = await this.acquireLock(exclusive, opts);
    return () => l.release();
  }

  /** `unlock`: remove stale locks (or every lock with `all`); returns the removed IDs. */
  removeLocks(all = false): Promise<string[]> {
    return all ? removeAllLocks(this.lockStore()) : removeStaleLocks(this.lockStore());
  }

  /** All readable locks with their IDs (unreadable ones are skipped, as restic does). */
  async listLocks(): Promise<Array<{ id: string; lock: LockInfo }>> {
    const out: Array<{ id: string; lock: LockInfo }> = [];
    for await (const id of this.listIds('lock')) {
      try {
        out.push({ id, lock: decodeLock(await this.loadUnpacked('lock', id)) });
      } catch {
        // a lock being deleted or written by someone else
      }
    }
    return out;
  }

  private lockStore(): LockStore {
    return {
      saveUnpacked: (type, json) => this.saveUnpacked(type, json),
      loadUnpacked: (type, id) => this.loadUnpacked(type, id),
      listIds: (type) => this.listIds(type),
      removeFile: (type, id) => this.backend.remove({ type, name: id }),
    };
  }

  // ---- keys ----

  /** Every key file with its metadata; `current` marks the one this repository was opened with. */
  async listKeys(): Promise<Array<{ id: string; key: KeyFile; current: boolean }>> {
    const out: Array<{ id: string; key: KeyFile; current: boolean }> = [];
    for await (const id of this.listIds('key')) {
      const key = decodeKeyFile(await this.loadUnpacked('key', id), id);
      out.push({ id, key, current: id === this.keyId });
    }
    return out;
  }

  /**
   * Add a key file for `password` protecting this repository's master key, and prove it
   * opens the repository before returning (restic removes a new key that does not).
   */
  async addKey(password: string, opts: AddKeyOptions = {}): Promise<string> {
    checkArg(typeof password === 'string', 'addKey', 'the new password (a string)', password);
    return this.runLocked('key add', false, opts, () => this.addKeyLocked(password, opts));
  }

  private async addKeyLocked(password: string, opts: AddKeyOptions): Promise<string> {
    const params = opts.kdf ?? (await calibrateKdf());
    const key = await createKeyFile(password, this.key, params, {
      username: opts.username || undefined,
      hostname: opts.hostname || undefined,
    });
    await this.backend.save({ type: 'key', name: key.id }, key.bytes, { sha256: key.id });
    try {
      const stored = await this.loadUnpacked('key', key.id);
      const master = await openKeyFile(decodeKeyFile(stored, key.id), password, key.id);
      if (!master || !sameMasterKey(master, this.key)) throw new IntegrityError('the new key does not open the master key');
    } catch (err) {
      await this.backend.remove({ type: 'key', name: key.id });
      throw new ResticError(`failed to access repository with new key: ${(err as Error).message}`, { cause: err });
    }
    return key.id;
  }

  /** Remove a key file; the key this repository was opened with is never removed. */
  async removeKey(id: string, opts?: OperationOptions): Promise<void> {
    checkArg(typeof id === 'string', 'removeKey', 'a key ID (a string)', id);
    if (id === this.keyId) throw new UsageError('refusing to remove key currently used to access repository');
    await this.runLocked('key remove', true, opts, async () => {
      await this.backend.stat({ type: 'key', name: id });
      await this.backend.remove({ type: 'key', name: id });
    });
  }

  /** `key passwd`: add a key for the new password, then remove the current one. */
  async changePassword(password: string, opts: AddKeyOptions = {}): Promise<string> {
    return this.runLocked('key passwd', true, opts, () => this.replaceKey(password, opts));
  }

  private async replaceKey(password: string, opts: AddKeyOptions): Promise<string> {
    const id = await this.addKey(password, { ...opts, lock: false });
    const old = this.keyId;
    (this as { keyId: string }).keyId = id;
    await this.backend.remove({ type: 'key', name: old });
    return id;
  }

  async close(): Promise<void> {
    await Promise.all([this.pool?.close(), this.spares?.close()]);
    this.pool = null;
    this.spool.remove();
    await this.backend.close();
  }
}

/** A pack's handle; packs of tree blobs are marked so a cache keeps them. */
/**
 * An index file's zstd frame decompressed and scanned in pieces (IndexStreamScanner); null
 * when the frame or the scan is not as expected, and the file is to be decoded whole.
 */
function scanIndexPieces(id: string, frame: Uint8Array, onPack: (p: IndexPack) => void): Omit<IndexFile, 'packs'> | null {
  const scanner = new IndexStreamScanner(id, onPack);
  try {
    zstdDecompressPieces(frame, MAX_UNPACKED_SIZE, (piece) => scanner.push(piece));
    return scanner.end();
  } catch (err) {
    if (err instanceof FormatError) return null;
    throw err;
  }
}

function packHandle(name: string, type: BlobType): Handle {
  return type === 'tree' ? { type: 'pack', name, tree: true } : { type: 'pack', name };
}

function packType(blobs: BlobList): BlobType {
  return blobs.length > 0 ? blobs.type(0) : 'data';
}

/** Runtime check that an operation was given an opened Repository. */
export function checkRepository(repo: unknown, where: string): asserts repo is Repository {
  checkArg(repo instanceof Repository, where, 'an opened Repository (Repository.open) as first argument', repo);
}

/** Runtime checks of open()/init()'s arguments (callers in plain JavaScript get a UsageError). */
function checkOpenArgs(where: string, backend: unknown, password: unknown, opts: unknown): void {
  const b = backend as Partial<Backend> | null;
  checkArg(
    typeof b?.load === 'function' && typeof b.save === 'function' && typeof b.list === 'function',
    where,
    'a Backend as first argument',
    backend,
  );
  checkArg(typeof password === 'string', where, 'the password (a string) as second argument', password);
  checkOptions(opts, where);
}

/** claim()'s hex → binary scratch (saves run on one thread, one at a time). */
const claimScratch = Buffer.alloc(32);

function sameMasterKey(a: MasterKey, b: MasterKey): boolean {
  const eq = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y));
  return eq(a.encrypt, b.encrypt) && eq(a.mac.k, b.mac.k) && eq(a.mac.r, b.mac.r);
}

async function exists(backend: Backend, h: Handle): Promise<boolean> {
  try {
    await backend.stat(h);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}
