/**
 * Worker threads that turn blobs into finished pack files (compress, encrypt, header,
 * pack SHA-256). The main thread copies each new blob into a shared ring buffer and goes
 * on reading and chunking; the ring's size bounds the bytes in flight, so memory stays
 * flat however fast the reader is. Finished packs come back through `onPack`.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import type { MasterKey } from '../crypto/index.js';
import type { CompressionMode } from '../compress/zstd.js';
import type { BlobType, PackedBlob } from './pack.js';

const WORKER_FILE = fileURLToPath(new URL('./blob-worker.js', import.meta.url));

/** Bytes of blob data in flight between the reader and the workers (two max-size chunks + slack). */
export const DEFAULT_RING_SIZE = 20 * 1024 * 1024;

/** Workers need the compiled worker file (absent when running TypeScript sources directly). */
export function workersAvailable(): boolean {
  return fs.existsSync(WORKER_FILE);
}

export type ToWorker =
  | { op: 'blob'; seq: number; type: BlobType; id: string; off: number; len: number; data?: Uint8Array }
  | { op: 'flush'; seq: number }
  | { op: 'recycle'; buf: ArrayBuffer };

export type FromWorker =
  | { op: 'done'; seq: number; type: BlobType; stored: number }
  | { op: 'pack'; id: string; bytes: Uint8Array; blobs: PackedBlob[] }
  | { op: 'flushed'; seq: number };

/** A pack a worker finished; call `recycle()` once its bytes are no longer needed. */
export interface WorkerPack {
  id: string;
  bytes: Uint8Array;
  blobs: PackedBlob[];
  recycle: () => void;
}

export interface BlobPoolOptions {
  key: MasterKey;
  version: number;
  compression: CompressionMode;
  packSize: number;
  workers: number;
  onPack: (p: WorkerPack) => void;
  onStored: (type: BlobType, stored: number) => void;
  ringSize?: number;
}

/** A region of the ring holding one blob until its worker is done with it. */
interface Region {
  seq: number;
  off: number;
  end: number;
  done: boolean;
}

export class BlobPool {
  private readonly workers: Worker[] = [];
  private readonly ring: SharedArrayBuffer;
  private readonly ringBytes: Uint8Array;
  /** Live regions in allocation order; the oldest one bounds where the writer may go. */
  private regions: Region[] = [];
  private readonly bySeq = new Map<number, Region | null>();
  private head = 0;
  private seq = 0;
  private next = 0;
  private outstanding = 0;
  private roomWaiters: Array<() => void> = [];
  private flushWaiters = new Map<number, { left: number; resolve: () => void }>();
  private failure: unknown = null;

  constructor(private readonly opts: BlobPoolOptions) {
    this.ring = new SharedArrayBuffer(opts.ringSize ?? DEFAULT_RING_SIZE);
    this.ringBytes = new Uint8Array(this.ring);
    for (let i = 0; i < opts.workers; i++) {
      const workerData = { key: opts.key, version: opts.version, compression: opts.compression, packSize: opts.packSize, ring: this.ring };
      // Inherit no eval/loader flags: the worker is a plain module file.
      const w = new Worker(WORKER_FILE, { workerData, execArgv: [] });
      w.on('message', (m: FromWorker) => this.onMessage(w, m));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`blob worker exited with code ${code}`));
      });
      w.unref();
      this.workers.push(w);
    }
  }

  private onMessage(w: Worker, m: FromWorker): void {
    switch (m.op) {
      case 'done':
        this.release(m.seq);
        this.opts.onStored(m.type, m.stored);
        break;
      case 'pack': {
        const bytes = m.bytes;
        const recycle = () => {
          if (!this.failure) w.postMessage({ op: 'recycle', buf: bytes.buffer as ArrayBuffer } satisfies ToWorker, [bytes.buffer as ArrayBuffer]);
        };
        this.opts.onPack({ id: m.id, bytes, blobs: m.blobs, recycle });
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

  /** Keep the process alive only while work is outstanding, so a forgotten close() never hangs it. */
  private updateRef(): void {
    const busy = this.outstanding > 0 || this.flushWaiters.size > 0;
    for (const w of this.workers) {
      if (busy) w.ref();
      else w.unref();
    }
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.wake();
    for (const f of this.flushWaiters.values()) f.resolve();
    this.flushWaiters.clear();
  }

  private release(seq: number): void {
    const r = this.bySeq.get(seq);
    this.bySeq.delete(seq);
    this.outstanding--;
    if (r) {
      r.done = true;
      let i = 0;
      while (i < this.regions.length && this.regions[i]!.done) i++;
      if (i) this.regions = this.regions.slice(i);
      if (!this.regions.length) this.head = 0;
    }
    this.wake();
  }

  private wake(): void {
    const w = this.roomWaiters;
    this.roomWaiters = [];
    for (const f of w) f();
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

  /**
   * Queue a blob for encoding. Its bytes are copied before this resolves, so the caller
   * may reuse its buffer right away.
   */
  async add(type: BlobType, id: string, data: Uint8Array): Promise<void> {
    this.throwIfFailed();
    const seq = this.seq++;
    const w = this.workers[this.next++ % this.workers.length]!;
    if (data.length > this.ring.byteLength / 2) {
      // Huge blobs (big trees) bypass the ring: wait until it drains to bound memory, then transfer a copy.
      while (this.outstanding > 0 && !this.failure) await new Promise<void>((r) => this.roomWaiters.push(r));
      this.throwIfFailed();
      const copy = new Uint8Array(data);
      this.outstanding++;
      this.bySeq.set(seq, null);
      this.updateRef();
      w.postMessage({ op: 'blob', seq, type, id, off: 0, len: 0, data: copy } satisfies ToWorker, [copy.buffer]);
      return;
    }
    let off: number;
    while ((off = this.allocate(data.length)) < 0) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
      this.throwIfFailed();
    }
    this.ringBytes.set(data, off);
    const region: Region = { seq, off, end: off + data.length, done: false };
    this.regions.push(region);
    this.head = region.end;
    this.bySeq.set(seq, region);
    this.outstanding++;
    this.updateRef();
    w.postMessage({ op: 'blob', seq, type, id, off, len: data.length } satisfies ToWorker);
  }

  /** Finish every worker's open packs; resolves after all of them went through `onPack`. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    const seq = this.seq++;
    await new Promise<void>((resolve) => {
      this.flushWaiters.set(seq, { left: this.workers.length, resolve });
      this.updateRef();
      for (const w of this.workers) w.postMessage({ op: 'flush', seq } satisfies ToWorker);
    });
    this.updateRef();
    this.throwIfFailed();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
