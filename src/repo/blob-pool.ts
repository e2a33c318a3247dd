/**
 * A pool of worker threads running encodeBlob. Blobs are handed over by transfer (no
 * copy); the bytes in flight are bounded so memory stays flat however fast the reader is.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import type { MasterKey } from '../crypto/index.js';
import type { CompressionMode } from '../compress/zstd.js';
import type { EncodedBlob } from './blob-codec.js';
import type { BlobType } from './pack.js';

const WORKER_FILE = fileURLToPath(new URL('./blob-worker.js', import.meta.url));

/** Workers need the compiled worker file (absent when running TypeScript sources directly). */
export function workersAvailable(): boolean {
  return fs.existsSync(WORKER_FILE);
}

interface Pending {
  resolve: (r: EncodedBlob) => void;
  reject: (e: unknown) => void;
  size: number;
}

export class BlobPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private next = 0;
  private bytes = 0;
  private roomWaiters: Array<() => void> = [];
  private failure: unknown = null;

  constructor(
    key: MasterKey,
    version: number,
    compression: CompressionMode,
    size: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {
    for (let i = 0; i < size; i++) {
      // Inherit no eval/loader flags: the worker is a plain module file.
      const w = new Worker(WORKER_FILE, { workerData: { key, version, compression }, execArgv: [] });
      w.on('message', (m: { seq: number; encrypted: Uint8Array; uncompressedLength: number }) => this.done(m));
      w.on('error', (err) => this.fail(err));
      w.unref();
      this.workers.push(w);
    }
  }

  private done(m: { seq: number; encrypted: Uint8Array; uncompressedLength: number }): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    this.pending.delete(m.seq);
    if (this.pending.size === 0) this.setRef(false);
    this.release(p.size);
    p.resolve({ encrypted: m.encrypted, uncompressedLength: m.uncompressedLength });
  }

  /** Keep the process alive only while work is outstanding, so a forgotten close() never hangs it. */
  private setRef(on: boolean): void {
    for (const w of this.workers) {
      if (on) w.ref();
      else w.unref();
    }
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.bytes = 0;
    this.wake();
  }

  private release(n: number): void {
    this.bytes -= n;
    this.wake();
  }

  private wake(): void {
    const w = this.roomWaiters;
    this.roomWaiters = [];
    for (const f of w) f();
  }

  /** Resolves once there is room for `size` more bytes in flight. */
  async waitForRoom(size: number): Promise<void> {
    while (this.bytes > 0 && this.bytes + size > this.maxBytes && !this.failure) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
    }
    if (this.failure) throw this.failure;
  }

  /** Encode `data` (ownership of its buffer passes to the pool). */
  encode(type: BlobType, data: Uint8Array): Promise<EncodedBlob> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq++;
    if (this.pending.size === 0) this.setRef(true);
    this.bytes += data.length;
    const w = this.workers[this.next++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, size: data.length });
      w.postMessage({ seq, type, data }, [data.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
