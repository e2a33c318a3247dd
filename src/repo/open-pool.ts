/**
 * Work on pack data on worker threads: decoding spans (decrypt, decompress, verify), whole-pack
 * checks for `check --read-data` and restore's span writes. Each job runs the same function
 * in-process when the compiled worker is absent (tests running the sources).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import type { MasterKey } from '../crypto/index.js';
import { type OpenResult, type SpanBlob, openSpan } from './blob-open.js';
import type { BlobType, PackedBlob } from './pack.js';
import { checkPackBytes } from '../checker/read-pack.js';
import { type SpanWrite, type SpanWriteResult, writeSpan } from '../restorer/span-write.js';

const WORKER_FILE = fileURLToPath(new URL('./open-worker.js', import.meta.url));

interface Pending {
  resolve: (r: unknown) => void;
  reject: (e: unknown) => void;
  worker: number;
}

/** A buffer that owns its whole ArrayBuffer can be transferred; anything else is copied first. */
export function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : new Uint8Array(b);
}

export class OpenPool {
  private readonly workers: Worker[] = [];
  /** Jobs queued on each worker. */
  private readonly load: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private failure: unknown = null;

  constructor(
    private readonly key: MasterKey,
    size: number,
  ) {
    if (!fs.existsSync(WORKER_FILE)) return;
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_FILE, { workerData: { key }, execArgv: [] });
      w.on('message', (m: { seq: number; result: unknown }) => this.done(m));
      w.on('error', (err) => this.fail(err));
      w.unref();
      this.workers.push(w);
      this.load.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  private done(m: { seq: number; result: unknown }): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    this.pending.delete(m.seq);
    this.load[p.worker]!--;
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    p.resolve(m.result);
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Send a job to the least busy worker; `buf` (if any) is transferred, not copied. */
  private post<T>(kind: string, args: object, buf?: Uint8Array): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq++;
    if (this.pending.size === 0) for (const w of this.workers) w.ref();
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    this.load[best]!++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (r: unknown) => void, reject, worker: best });
      this.workers[best]!.postMessage({ seq, kind, args }, buf ? [buf.buffer as ArrayBuffer] : []);
    });
  }

  /** Decode the blobs of `span` (ownership of its buffer passes to the pool). */
  open(packId: string, type: BlobType, span: Uint8Array, blobs: SpanBlob[]): Promise<OpenResult[]> {
    if (!this.workers.length) return Promise.resolve(openSpan(this.key, packId, type, span, blobs));
    const own = ownBuffer(span);
    return this.post('open', { packId, type, span: own, blobs }, own);
  }

  /**
   * Verify a whole pack (hash, header, every indexed blob); only the problem line comes back.
   * `indexed` must be sorted by offset. Ownership of `pack` passes to the pool.
   */
  checkPack(packId: string, pack: Uint8Array, indexed: PackedBlob[], size: number): Promise<string | null> {
    if (!this.workers.length) return checkPackBytes(this.key, packId, pack, indexed, size);
    const own = ownBuffer(pack);
    return this.post('check', { packId, pack: own, indexed, size }, own);
  }

  /** Decode a span and write its blobs into files; the plaintext never leaves the worker. */
  write(job: SpanWrite): Promise<SpanWriteResult> {
    if (!this.workers.length) return Promise.resolve(writeSpan(this.key, job));
    const own = ownBuffer(job.span);
    return this.post('write', { ...job, span: own }, own);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
