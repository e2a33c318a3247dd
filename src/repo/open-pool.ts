/**
 * Work on pack data on worker threads: whole-pack checks for `check --read-data` and
 * restore's span writes (decrypt, decompress, verify, write). Each job runs the same function
 * in-process when the compiled worker is absent (tests running the sources).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import type { MasterKey } from '../crypto/index.js';
import type { PackedBlob } from './pack.js';
import { checkPackBytes } from '../checker/read-pack.js';
import { type SpanWrite, type SpanWriteResult, writeSpan } from '../restorer/span-write.js';

const WORKER_FILE = fileURLToPath(new URL('./open-worker.js', import.meta.url));

interface Pending {
  resolve: (r: unknown) => void;
  reject: (e: unknown) => void;
  worker: number;
  /** Takes the job's buffer back once the worker is done with it. */
  giveBack?: (buf: ArrayBuffer) => void;
}

/** A buffer that owns its whole ArrayBuffer can be transferred; anything else is copied first. */
export function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : new Uint8Array(b);
}

interface Answer {
  seq: number;
  result: unknown;
  back?: ArrayBuffer;
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
      w.on('message', (m: Answer) => this.done(m));
      w.on('error', (err) => this.fail(err));
      w.unref();
      this.workers.push(w);
      this.load.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  private done(m: Answer): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    if (m.back) p.giveBack?.(m.back);
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

  /**
   * Send a job to the least busy worker; `buf` is transferred, not copied. With `giveBack`,
   * the whole buffer behind `buf` (a view at its start) travels and is handed back afterwards.
   */
  private post<T>(kind: string, args: object, buf: Uint8Array, giveBack?: (buf: ArrayBuffer) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq++;
    if (this.pending.size === 0) for (const w of this.workers) w.ref();
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    this.load[best]!++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (r: unknown) => void, reject, worker: best, giveBack });
      this.workers[best]!.postMessage({ seq, kind, args, back: giveBack !== undefined }, [buf.buffer as ArrayBuffer]);
    });
  }

  /** Whether `buf` may travel with its whole buffer: a view at its start, given back later. */
  private sendable(buf: Uint8Array, giveBack?: (buf: ArrayBuffer) => void): Uint8Array {
    return giveBack && buf.byteOffset === 0 ? buf : ownBuffer(buf);
  }

  /**
   * Verify a whole pack (hash, header, every indexed blob); only the problem line comes back.
   * `indexed` must be sorted by offset. Ownership of `pack` passes to the pool.
   */
  async checkPack(packId: string, pack: Uint8Array, indexed: PackedBlob[], size: number, giveBack?: (buf: ArrayBuffer) => void): Promise<string | null> {
    if (!this.workers.length) {
      const problem = await checkPackBytes(this.key, packId, pack, indexed, size);
      if (pack.byteOffset === 0) giveBack?.(pack.buffer as ArrayBuffer);
      return problem;
    }
    const buf = this.sendable(pack, giveBack);
    return this.post('check', { packId, pack: buf, indexed, size }, buf, buf === pack ? giveBack : undefined);
  }

  /** Decode a span and write its blobs into files; the plaintext never leaves the worker. */
  async write(job: SpanWrite, giveBack?: (buf: ArrayBuffer) => void): Promise<SpanWriteResult> {
    if (!this.workers.length) {
      const res = writeSpan(this.key, job);
      if (job.span.byteOffset === 0) giveBack?.(job.span.buffer as ArrayBuffer);
      return res;
    }
    const span = this.sendable(job.span, giveBack);
    return this.post('write', { ...job, span }, span, span === job.span ? giveBack : undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
