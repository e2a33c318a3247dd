/**
 * Worker threads that turn blobs into finished pack files (compress, encrypt, header,
 * pack SHA-256). Blob bytes travel in a shared ring buffer: file contents are read straight
 * into it (a BlobWindow) and only offsets go to the workers, so blob bytes are never copied
 * between the read and the pack buffer. The ring's size bounds the bytes in flight, so
 * memory stays flat however fast the reader is. Finished packs come back through `onPack`.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { raiseMallocThresholds } from './malloc-threshold.js';
import { gcTuningAllowed } from './worker-gc.js';
import type { MasterKey } from '../crypto/index.js';
import type { CompressionMode } from '../compress/zstd.js';
import type { BlobType, PackedBlob } from '../format/pack.js';
import { BlobList, type BlobListData } from '../format/blob-list.js';

const WORKER_FILE = fileURLToPath(new URL('./blob-worker.js', import.meta.url));

/** Bytes of blob data in flight between the reader and the workers (two max-size chunks + slack). */
const DEFAULT_RING_SIZE = 20 * 1024 * 1024;
/** Blobs sent to a worker in one message: per-message cost matters with thousands of small files. */
const BATCH_BLOBS = 32;
const BATCH_BYTES = 1024 * 1024;

/**
 * With the default worker count, new data up to this size is encoded on the calling thread:
 * starting a worker costs ~150 ms of CPU (module and WASM loading), more than encoding a few
 * MiB, so an unchanged or slightly changed re-backup never starts one. Trees never start them.
 */
export const IN_PROCESS_DATA = 8 * 1024 * 1024;

/** Workers need the compiled worker file (absent when running TypeScript sources directly). */
export function workersAvailable(): boolean {
  return fs.existsSync(WORKER_FILE);
}

/**
 * One blob for a worker: bytes at ring[off, off+len), or `data` (transferred) when off < 0.
 * An empty `id` asks only for the blob's SHA-256 (the caller then decides whether to store it).
 */
export interface BlobJob {
  type: BlobType;
  id: string;
  off: number;
  len: number;
  data?: Uint8Array;
}

/** What a worker needs to encode blobs: its first message (a worker may start before the key is known). */
interface WorkerSetup {
  key: MasterKey;
  version: number;
  compression: CompressionMode;
  packSize: number;
  ring: SharedArrayBuffer;
  tempDir: string | null;
}

export type ToWorker =
  | { op: 'init'; setup: WorkerSetup }
  | { op: 'blobs'; batch: number; jobs: BlobJob[] }
  | { op: 'flush'; seq: number }
  | { op: 'recycle'; buf: ArrayBuffer }
  | { op: 'close' };

export type FromWorker =
  | { op: 'done'; batch: number; stored: number[]; hashes: string[] }
  | { op: 'pack'; id: string; bytes?: Uint8Array; file?: string; size: number; blobs: BlobListData }
  | { op: 'flushed'; seq: number };

/**
 * A pack a worker finished: its bytes, or the temp file (in `tempDir`) holding them, which
 * the receiver must commit or remove. Call `recycle()` once the bytes are no longer needed.
 */
interface WorkerPack {
  id: string;
  bytes: Uint8Array;
  file?: string;
  size: number;
  /** The pack's blobs in file order, compactly (what the repository indexes). */
  list: BlobList;
  /** The same as objects, made on first access. */
  readonly blobs: PackedBlob[];
  recycle: () => void;
}

export interface BlobPoolOptions {
  key: MasterKey;
  version: number;
  compression: CompressionMode;
  packSize: number;
  workers: number;
  /** Write packs to temp files in this directory as they are assembled (bounds memory). */
  tempDir?: string;
  onPack: (p: WorkerPack) => void;
  /** Called once per blob, when a worker has encoded it. */
  onStored: (type: BlobType, stored: number) => void;
  ringSize?: number;
  /** Let glibc keep freed buffers (see malloc-threshold.ts); off under a tight memory budget. */
  holdFreedMemory?: boolean;
  /** V8 limits for the workers (a tight memory budget's). */
  workerLimits?: { maxYoungGenerationSizeMb: number };
  /** Workers started early (while the key was derived), used before starting new ones. */
  spares?: BlobWorkerSpares;
}

/** Start a blob worker; it waits for its WorkerSetup. */
function spawnBlobWorker(warmZstd: boolean, resourceLimits?: { maxYoungGenerationSizeMb: number }): Worker {
  // Inherit no eval/loader flags (the worker is a plain module file), only profiling ones.
  const execArgv = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
  const w = new Worker(WORKER_FILE, { workerData: { gcTuning: gcTuningAllowed(), warmZstd }, execArgv, resourceLimits });
  w.unref();
  return w;
}

/**
 * Blob workers started before a repository's key is known: a worker's start-up (modules,
 * WASM) then runs while scrypt does, instead of at the start of the data. A BlobPool
 * adopts them; close() stops those never adopted.
 */
export class BlobWorkerSpares {
  private workers: Worker[] = [];
  private failed = new Set<Worker>();

  constructor(count: number) {
    if (!workersAvailable()) return;
    for (let i = 0; i < count; i++) {
      const w = spawnBlobWorker(true);
      // A spare that fails is simply not adopted; the pool starts a fresh one instead.
      const lost = () => this.failed.add(w);
      w.once('error', lost).once('exit', lost);
      this.workers.push(w);
    }
  }

  /** Spares started and not (yet) adopted or stopped. */
  get count(): number {
    return this.workers.length;
  }

  /** Up to `n` healthy spares for a pool; the rest are stopped. */
  take(n: number): Worker[] {
    const usable = this.workers.filter((w) => !this.failed.has(w));
    const taken = usable.slice(0, n);
    for (const w of taken) w.removeAllListeners();
    this.workers = this.workers.filter((w) => !taken.includes(w));
    void this.close();
    return taken;
  }

  /** Stop the spares not adopted. */
  async close(): Promise<void> {
    const left = this.workers;
    this.workers = [];
    await Promise.all(left.map((w) => w.terminate()));
  }
}

/** A part of the ring in use until its batch is done (or, for `window`, until the window moves on). */
export interface Region {
  off: number;
  end: number;
  done: boolean;
}

/** A batch being filled or with a worker. */
interface Batch {
  jobs: BlobJob[];
  regions: Region[];
  /** Per job: who waits for the blob's ID (hash-only jobs), else null. */
  hashWaiters: Array<HashWaiter | null>;
  bytes: number;
}

interface HashWaiter {
  resolve: (id: string) => void;
  reject: (err: unknown) => void;
}

/** Ring bytes of a blob hashed by a worker, until the caller stores or drops it. */
export interface HeldBlob {
  readonly region: Region;
  readonly type: BlobType;
  /** The blob's SHA-256 (hex), computed by a worker. */
  readonly id: Promise<string>;
}

/**
 * Ring space that the reader fills directly: bytes[start, end) hold data read but not yet
 * cut into blobs; the reader may write up to `limit`. Blobs are taken from `start` in order.
 */
export interface BlobWindow {
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly limit: number;
}

class Window implements BlobWindow {
  constructor(
    readonly bytes: Uint8Array,
    public start: number,
    public end: number,
    public limit: number,
  ) {}
}

function workerPack(p: Omit<WorkerPack, 'blobs'>): WorkerPack {
  let blobs: PackedBlob[] | undefined;
  return {
    ...p,
    get blobs() {
      return (blobs ??= [...p.list]);
    },
  };
}

export class BlobPool {
  private readonly workers: Worker[] = [];
  private readonly ring: SharedArrayBuffer;
  private readonly ringBytes: Uint8Array;
  /** Live regions in allocation order; the oldest one bounds where the writer may go. */
  private regions: Region[] = [];
  /** Next free byte after the newest region (or after the open window's data). */
  private head = 0;
  private window: Window | null = null;
  private pending: Batch | null = null;
  private readonly inFlight = new Map<number, Batch>();
  private batchSeq = 0;
  /** Blob bytes sent to workers and not yet done. */
  private sentBytes = 0;
  private next = 0;
  private roomWaiters: Array<() => void> = [];
  private flushWaiters = new Map<number, { left: number; resolve: () => void }>();
  private failure: unknown = null;

  constructor(private readonly opts: BlobPoolOptions) {
    this.ring = new SharedArrayBuffer(opts.ringSize ?? DEFAULT_RING_SIZE);
    if (opts.holdFreedMemory !== false) raiseMallocThresholds();
    this.ringBytes = new Uint8Array(this.ring);
    const setup: WorkerSetup = {
      key: opts.key,
      version: opts.version,
      compression: opts.compression,
      packSize: opts.packSize,
      ring: this.ring,
      tempDir: opts.tempDir ?? null,
    };
    const warmZstd = opts.version >= 2 && opts.compression !== 'off';
    const early = opts.spares?.take(opts.workers) ?? [];
    for (let i = 0; i < opts.workers; i++) {
      const w = early[i] ?? spawnBlobWorker(warmZstd, opts.workerLimits);
      w.on('message', (m: FromWorker) => this.onMessage(w, m));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`blob worker exited with code ${code}`));
      });
      w.postMessage({ op: 'init', setup } satisfies ToWorker);
      this.workers.push(w);
    }
  }

  /** Packs arrive as temp files (tempDir), not as bytes. */
  get writesFiles(): boolean {
    return this.opts.tempDir !== undefined;
  }

  /** Blob bytes queued for the workers and not done yet. */
  get queuedBytes(): number {
    return this.sentBytes + (this.pending?.bytes ?? 0);
  }

  get workerCount(): number {
    return this.workers.length;
  }

  private onMessage(w: Worker, m: FromWorker): void {
    switch (m.op) {
      case 'done': {
        const b = this.inFlight.get(m.batch);
        if (!b) break; // the pool failed meanwhile
        this.inFlight.delete(m.batch);
        this.sentBytes -= b.bytes;
        for (const r of b.regions) r.done = true;
        this.dropDoneRegions();
        for (let i = 0; i < m.stored.length; i++) {
          const waiter = b.hashWaiters[i];
          if (waiter) waiter.resolve(m.hashes[i]!);
          else this.opts.onStored(b.jobs[i]!.type, m.stored[i]!);
        }
        this.wake();
        break;
      }
      case 'pack': {
        const bytes = m.bytes;
        const list = BlobList.fromData(m.blobs);
        if (!bytes) {
          this.opts.onPack(workerPack({ id: m.id, bytes: new Uint8Array(0), file: m.file, size: m.size, list, recycle: () => undefined }));
          break;
        }
        const recycle = () => {
          if (!this.failure)
            w.postMessage({ op: 'recycle', buf: bytes.buffer as ArrayBuffer } satisfies ToWorker, [bytes.buffer as ArrayBuffer]);
        };
        this.opts.onPack(workerPack({ id: m.id, bytes, size: m.size, list, recycle }));
        break;
      }
      case 'flushed': {
        const f = this.flushWaiters.get(m.seq);
        if (f && --f.left === 0) {
          this.flushWaiters.delete(m.seq);
          f.resolve();
        }
        break;
      }
    }
    this.updateRef();
  }

  /** Blobs or flushes still with the workers (their replies need the event loop). */
  get busy(): boolean {
    return this.inFlight.size > 0 || this.flushWaiters.size > 0 || this.pending !== null;
  }

  /** Keep the process alive only while work is outstanding, so a forgotten close() never hangs it. */
  private updateRef(): void {
    const busy = this.inFlight.size > 0 || this.flushWaiters.size > 0;
    for (const w of this.workers) {
      if (busy) w.ref();
      else w.unref();
    }
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const b of [...this.inFlight.values(), ...(this.pending ? [this.pending] : [])]) {
      for (const h of b.hashWaiters) h?.reject(this.failure);
    }
    this.inFlight.clear();
    this.pending = null;
    this.wake();
    for (const f of this.flushWaiters.values()) f.resolve();
    this.flushWaiters.clear();
  }

  private dropDoneRegions(): void {
    let i = 0;
    while (i < this.regions.length && this.regions[i]!.done) i++;
    if (i) this.regions = this.regions.slice(i);
    // An empty ring starts over at 0, which keeps free space contiguous.
    if (!this.regions.length && !this.window) this.head = 0;
  }

  private wake(): void {
    const w = this.roomWaiters;
    this.roomWaiters = [];
    for (const f of w) f();
  }

  private async waitForRoom(): Promise<void> {
    this.send();
    await new Promise<void>((r) => this.roomWaiters.push(r));
    this.throwIfFailed();
  }

  /** Start of the oldest bytes still in use (the writer must stay behind it). */
  private tail(): number {
    return this.regions.length ? this.regions[0]!.off : this.window ? this.window.start : this.head;
  }

  /** True when the used part of the ring is one run from tail() to head without wrapping. */
  private usedRunIsFlat(): boolean {
    return !this.regions.length || this.regions[0]!.off <= this.head;
  }

  /** End of the free run that starts at `pos` (pos is the head). */
  private freeEnd(pos: number): number {
    const size = this.ring.byteLength;
    if (!this.regions.length && !this.window) return size;
    return this.usedRunIsFlat() && this.tail() <= pos ? size : this.tail() - 1;
  }

  /** Offset for `len` bytes in the ring, or −1 when it must wait for workers to finish blobs. */
  private allocate(len: number): number {
    const size = this.ring.byteLength;
    if (!this.regions.length) return len <= size ? 0 : -1;
    const tail = this.regions[0]!.off;
    if (this.head >= tail) {
      if (size - this.head >= len) return this.head;
      return len < tail ? 0 : -1; // wrap around
    }
    return tail - this.head > len ? this.head : -1;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Queue a job; the batch goes to a worker once it is big enough (or someone waits). */
  private queue(job: BlobJob, region: Region | null, hashWaiter: HashWaiter | null = null): void {
    const b = (this.pending ??= { jobs: [], regions: [], hashWaiters: [], bytes: 0 });
    b.jobs.push(job);
    b.hashWaiters.push(hashWaiter);
    if (region) b.regions.push(region);
    b.bytes += job.len;
    if (b.jobs.length >= BATCH_BLOBS || b.bytes >= BATCH_BYTES || job.data) this.send();
  }

  /** Hand the pending batch to the next worker. */
  send(): void {
    const b = this.pending;
    if (!b) return;
    this.pending = null;
    const batch = this.batchSeq++;
    this.inFlight.set(batch, b);
    this.updateRef();
    this.sentBytes += b.bytes;
    const transfer = b.jobs.flatMap((j) => (j.data ? [j.data.buffer as ArrayBuffer] : []));
    const w = this.workers[this.next++ % this.workers.length]!;
    w.postMessage({ op: 'blobs', batch, jobs: b.jobs } satisfies ToWorker, transfer);
  }

  /**
   * Queue a blob for encoding. Its bytes are copied before this resolves, so the caller
   * may reuse its buffer right away.
   */
  async add(type: BlobType, id: string, data: Uint8Array): Promise<void> {
    this.throwIfFailed();
    const huge = data.length > this.ring.byteLength / 2;
    if (huge || this.window) {
      // Huge blobs (big trees) bypass the ring: wait until it drains to bound memory, then
      // transfer a copy. Small ones do too while a window is open (its free space is the reader's).
      if (huge) {
        this.send();
        while (this.inFlight.size > 0 && !this.failure) await new Promise<void>((r) => this.roomWaiters.push(r));
        this.throwIfFailed();
      }
      const copy = new Uint8Array(data);
      this.queue({ type, id, off: -1, len: copy.length, data: copy }, null);
      return;
    }
    let off: number;
    while ((off = this.allocate(data.length)) < 0) await this.waitForRoom();
    this.ringBytes.set(data, off);
    const region: Region = { off, end: off + data.length, done: false };
    this.regions.push(region);
    this.head = region.end;
    this.queue({ type, id, off, len: data.length }, region);
  }

  /** Open the reader's window at the head of the ring (one at a time). */
  openWindow(): BlobWindow {
    if (this.window) throw new Error('BlobPool: a window is already open');
    this.throwIfFailed();
    const w = new Window(this.ringBytes, this.head, this.head, 0);
    this.window = w;
    w.limit = this.freeEnd(w.end);
    return w;
  }

  /**
   * Make at least `min` bytes writable after the window's end, waiting for workers as
   * needed. When the run up to the end of the ring is too short, the window's data
   * (less than one chunk) moves to the start of the ring.
   */
  async grow(win: BlobWindow, min: number): Promise<void> {
    const w = win as Window;
    const size = this.ring.byteLength;
    if (min > size / 2) throw new RangeError('BlobPool: window growth larger than half the ring');
    for (;;) {
      this.throwIfFailed();
      if (w.start === w.end && !this.regions.length) {
        w.start = w.end = this.head = 0; // nothing in use: start over contiguously
      }
      w.limit = this.freeEnd(w.end);
      if (w.limit - w.end >= min) return;
      const len = w.end - w.start;
      // Wrap: the used run is flat (regions, then the window up to the ring's end) and the
      // space before the oldest region fits the window's data plus `min`.
      if (this.usedRunIsFlat() && size - w.end < min && (this.regions.length ? this.regions[0]!.off : w.start) > len + min) {
        this.ringBytes.copyWithin(0, w.start, w.end);
        w.start = 0;
        w.end = len;
        this.head = len;
        continue;
      }
      await this.waitForRoom();
    }
  }

  /** Record that the reader wrote `n` more bytes at the window's end. */
  fill(win: BlobWindow, n: number): void {
    const w = win as Window;
    if (w.end + n > w.limit) throw new RangeError('BlobPool: window overflow');
    w.end += n;
    this.head = w.end;
  }

  /**
   * Take the next `len` bytes of the window as a blob: queued for a worker when `id` is
   * given (a new blob), dropped otherwise (already stored).
   */
  take(win: BlobWindow, len: number, type: BlobType, id: string | null): void {
    const w = win as Window;
    const off = w.start;
    if (off + len > w.end) throw new RangeError('BlobPool: take beyond the window');
    w.start += len;
    if (id === null) return;
    const region: Region = { off, end: off + len, done: false };
    this.regions.push(region);
    this.queue({ type, id, off, len }, region);
  }

  /**
   * Take the next `len` bytes of the window as a blob whose SHA-256 a worker computes; its
   * bytes stay in the ring until store() or drop(). Lets the reader go on chunking meanwhile.
   */
  hold(win: BlobWindow, len: number, type: BlobType): HeldBlob {
    this.throwIfFailed();
    const w = win as Window;
    const off = w.start;
    if (off + len > w.end) throw new RangeError('BlobPool: take beyond the window');
    w.start += len;
    const region: Region = { off, end: off + len, done: false };
    this.regions.push(region);
    let waiter!: HashWaiter;
    const id = new Promise<string>((resolve, reject) => (waiter = { resolve, reject }));
    this.queue({ type, id: '', off, len }, null, waiter);
    this.send(); // the reader may wait for the ID next (at the file's end): never leave it queued
    return { region, type, id };
  }

  /** Queue a held blob for encoding (sent at once: whoever waits for ring room needs it done). */
  store(b: HeldBlob, id: string): void {
    this.throwIfFailed();
    this.queue({ type: b.type, id, off: b.region.off, len: b.region.end - b.region.off }, b.region);
    this.send();
  }

  /** Give a held blob's ring bytes back (it was already stored). */
  drop(b: HeldBlob): void {
    b.region.done = true;
    this.dropDoneRegions();
    this.wake();
  }

  /** Close the window; bytes not taken are discarded. */
  closeWindow(win: BlobWindow): void {
    const w = win as Window;
    if (this.window !== w) return;
    this.window = null;
    this.head = w.start;
    this.dropDoneRegions();
  }

  /** Finish every worker's open packs; resolves after all of them went through `onPack`. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    this.send();
    const seq = this.batchSeq++;
    await new Promise<void>((resolve) => {
      this.flushWaiters.set(seq, { left: this.workers.length, resolve });
      this.updateRef();
      for (const w of this.workers) w.postMessage({ op: 'flush', seq } satisfies ToWorker);
    });
    this.updateRef();
    this.throwIfFailed();
  }

  /**
   * Stop the workers. Blobs not flushed are discarded; a worker finishes the batches it has,
   * removes its unfinished packs' temp files and exits (terminated if that takes too long).
   */
  async close(): Promise<void> {
    this.pending = null;
    await Promise.all(
      this.workers.map(async (w) => {
        if (this.failure) {
          await w.terminate();
          return;
        }
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        w.postMessage({ op: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => void w.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
