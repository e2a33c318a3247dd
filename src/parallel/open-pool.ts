/**
 * Work on pack data on worker threads: whole-pack checks for `check --read-data` and
 * restore's span writes (decrypt, decompress, verify, write). Each job runs the same function
 * in-process when the compiled worker is absent (tests running the sources).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { raiseMallocThresholds } from './malloc-threshold.js';
import { gcTuningAllowed } from './worker-gc.js';
import type { MasterKey } from '../crypto/index.js';
import { type PackEntries, checkPackBytes } from './read-pack.js';
import { type SpanWrite, type SpanWriteResult, writeSpan } from './span-write.js';

const WORKER_FILE = fileURLToPath(new URL('./open-worker.js', import.meta.url));

interface Pending {
  resolve: (r: unknown) => void;
  reject: (e: unknown) => void;
  worker: number;
  /** Takes the job's buffer back once the worker is done with it. */
  giveBack?: (buf: ArrayBuffer) => void;
}

/** A buffer that owns its whole ArrayBuffer can be transferred; anything else is copied first. */
function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : new Uint8Array(b);
}

interface Answer {
  seq: number;
  result: unknown;
  back?: ArrayBuffer;
}

/** Workers started ahead of need (see prestartOpenPool), kept for the next pool with their key. */
let spare: { key: MasterKey; workers: Worker[]; failure: unknown } | null = null;

function startWorker(key: MasterKey): Worker {
  const w = new Worker(WORKER_FILE, { workerData: { key, gcTuning: gcTuningAllowed() }, execArgv: [] });
  w.unref();
  return w;
}

/**
 * Start `size` workers for a pool the caller will create soon with the same key, so that their
 * start-up (~150 ms of module and WASM loading each) overlaps a wait, such as the 200 ms a
 * new lock settles. Unused ones never keep the process alive; a later call replaces them.
 */
export function prestartOpenPool(key: MasterKey, size: number, holdFreedMemory = true): void {
  if (holdFreedMemory) raiseMallocThresholds();
  if (!fs.existsSync(WORKER_FILE)) return;
  if (spare?.key === key && spare.workers.length >= size) return;
  void discardSpare();
  const s = { key, workers: [] as Worker[], failure: null as unknown };
  for (let i = 0; i < size; i++) {
    const w = startWorker(key);
    w.on('error', (err) => (s.failure ??= err));
    s.workers.push(w);
  }
  spare = s;
}

/** Terminate prestarted workers nobody took (a different key, or the caller gave up). */
export function discardSpare(): Promise<unknown> {
  const s = spare;
  spare = null;
  return s ? Promise.all(s.workers.map((w) => w.terminate())) : Promise.resolve();
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
    /** Let glibc keep freed buffers (see malloc-threshold.ts); off under a tight memory budget. */
    holdFreedMemory = true,
  ) {
    if (holdFreedMemory) raiseMallocThresholds();
    if (!fs.existsSync(WORKER_FILE)) return;
    const ready = spare?.key === key ? spare : null;
    if (ready) spare = null;
    else void discardSpare();
    for (let i = 0; i < size; i++) {
      const w = ready?.workers.shift() ?? startWorker(key);
      w.on('message', (m: Answer) => this.done(m));
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
      this.load.push(0);
    }
    if (ready?.failure) this.fail(ready.failure);
    for (const w of ready?.workers ?? []) void w.terminate();
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
   * Run a job on the least busy worker, or `here` when there are none. `buf` is transferred,
   * not copied. `giveBack` (from BufferRing.giveBackFor, so `buf` is a view at the start of
   * its buffer) makes the whole buffer travel and hands it back afterwards; without it, a view
   * into a larger buffer is copied first.
   */
  private async run<T>(
    kind: string,
    buf: Uint8Array,
    giveBack: ((buf: ArrayBuffer) => void) | undefined,
    args: (sent: Uint8Array) => object,
    here: () => T | Promise<T>,
  ): Promise<T> {
    if (!this.workers.length) {
      const result = await here();
      giveBack?.(buf.buffer as ArrayBuffer);
      return result;
    }
    if (this.failure) throw this.failure;
    const sent = giveBack ? buf : ownBuffer(buf);
    const seq = this.seq++;
    if (this.pending.size === 0) for (const w of this.workers) w.ref();
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    this.load[best]!++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (r: unknown) => void, reject, worker: best, giveBack });
      this.workers[best]!.postMessage({ seq, kind, args: args(sent), back: giveBack !== undefined }, [sent.buffer as ArrayBuffer]);
    });
  }

  /**
   * Verify a whole pack (hash, header, every indexed blob); only the problem line comes back.
   * `indexed` must be sorted by offset. Ownership of `pack` passes to the pool.
   */
  checkPack(
    packId: string,
    pack: Uint8Array,
    indexed: PackEntries,
    size: number,
    giveBack?: (buf: ArrayBuffer) => void,
  ): Promise<string | null> {
    return this.run(
      'check',
      pack,
      giveBack,
      (sent) => ({ packId, pack: sent, indexed, size }),
      () => checkPackBytes(this.key, packId, pack, indexed, size),
    );
  }

  /** Decode a span and write its blobs into files; the plaintext never leaves the worker. */
  write(job: SpanWrite, giveBack?: (buf: ArrayBuffer) => void): Promise<SpanWriteResult> {
    return this.run(
      'write',
      job.span,
      giveBack,
      (span) => ({ ...job, span }),
      () => writeSpan(this.key, job),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
