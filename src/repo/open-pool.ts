/**
 * Decoding spans of pack files on worker threads (decrypt, decompress, verify), with an
 * in-process fallback when the compiled worker is absent (tests running the sources).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import type { MasterKey } from '../crypto/index.js';
import { type OpenResult, type SpanBlob, openSpan } from './blob-open.js';
import type { BlobType } from './pack.js';

const WORKER_FILE = fileURLToPath(new URL('./open-worker.js', import.meta.url));

interface Pending {
  resolve: (r: OpenResult[]) => void;
  reject: (e: unknown) => void;
}

export class OpenPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private next = 0;
  private failure: unknown = null;

  constructor(
    private readonly key: MasterKey,
    size: number,
  ) {
    if (!fs.existsSync(WORKER_FILE)) return;
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_FILE, { workerData: { key }, execArgv: [] });
      w.on('message', (m: { seq: number; results: OpenResult[] }) => this.done(m));
      w.on('error', (err) => this.fail(err));
      w.unref();
      this.workers.push(w);
    }
  }

  private done(m: { seq: number; results: OpenResult[] }): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    this.pending.delete(m.seq);
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    p.resolve(m.results);
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Decode the blobs of `span` (ownership of its buffer passes to the pool). */
  open(packId: string, type: BlobType, span: Uint8Array, blobs: SpanBlob[]): Promise<OpenResult[]> {
    if (!this.workers.length) return Promise.resolve(openSpan(this.key, packId, type, span, blobs));
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq++;
    if (this.pending.size === 0) for (const w of this.workers) w.ref();
    const w = this.workers[this.next++ % this.workers.length]!;
    // A span that shares its buffer (a view into a larger one) is copied before transfer.
    const own = span.byteOffset === 0 && span.buffer.byteLength === span.length ? span : new Uint8Array(span);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      w.postMessage({ seq, packId, type, span: own, blobs }, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
