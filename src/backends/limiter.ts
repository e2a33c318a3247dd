/**
 * restic's --limit-upload / --limit-download: a Backend wrapper that keeps the average
 * transfer rate of saved and loaded file bytes at or below a number of KiB/s. Each
 * transfer waits until the bytes before it have "drained" at the set rate, so a burst
 * is at most one file.
 */
import type { Backend, CallOptions, FileInfo, FileType, Handle } from './backend.js';

class RateLimit {
  /** When the bytes accounted so far have drained (ms since the epoch). */
  private next = 0;

  constructor(private readonly bytesPerSecond: number) {}

  async take(bytes: number): Promise<void> {
    const now = Date.now();
    const start = Math.max(now, this.next);
    this.next = start + (bytes / this.bytesPerSecond) * 1000;
    if (start > now) await new Promise((r) => setTimeout(r, start - now));
  }
}

/** Upload and download limits of LimitedBackend (restic's --limit-upload/--limit-download). */
export interface RateLimits {
  /** KiB/s; 0 or undefined for no limit. */
  uploadKiB?: number;
  downloadKiB?: number;
}

/**
 * A backend whose transfers are held to a rate (KiB/s), as restic's --limit-upload and
 * --limit-download.
 *
 * @example
 * ```ts
 * const backend = new LimitedBackend(openLocation('rest:http://127.0.0.1:8000/repo'), { uploadKiB: 1024 });
 * ```
 */
export class LimitedBackend implements Backend {
  private readonly up: RateLimit | null;
  private readonly down: RateLimit | null;

  constructor(
    private readonly inner: Backend,
    limits: RateLimits,
  ) {
    this.up = limits.uploadKiB ? new RateLimit(limits.uploadKiB * 1024) : null;
    this.down = limits.downloadKiB ? new RateLimit(limits.downloadKiB * 1024) : null;
  }

  get location(): string {
    return this.inner.location;
  }

  create(opts?: CallOptions): Promise<void> {
    return this.inner.create(opts);
  }

  async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    await this.up?.take(data.length);
    await this.inner.save(h, data, opts);
  }

  async load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    const data = await this.inner.load(h, offset, length, opts);
    await this.down?.take(data.length);
    return data;
  }

  stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    return this.inner.stat(h, opts);
  }

  list(type: FileType, opts?: CallOptions): AsyncIterable<FileInfo> {
    return this.inner.list(type, opts);
  }

  remove(h: Handle, opts?: CallOptions): Promise<void> {
    return this.inner.remove(h, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
