/**
 * restic's --limit-upload / --limit-download: a Backend wrapper that keeps the average
 * transfer rate of saved and loaded file bytes at or below a number of KiB/s. Each
 * transfer waits until the bytes before it have "drained" at the set rate, so a burst
 * is at most one file.
 */
import type { Backend, FileInfo, FileType, Handle } from './backend.js';

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

export interface RateLimits {
  /** KiB/s; 0 or undefined for no limit. */
  uploadKiB?: number;
  downloadKiB?: number;
}

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

  create(): Promise<void> {
    return this.inner.create();
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    await this.up?.take(data.length);
    await this.inner.save(h, data);
  }

  async load(h: Handle, offset?: number, length?: number): Promise<Uint8Array> {
    const data = await this.inner.load(h, offset, length);
    await this.down?.take(data.length);
    return data;
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h);
  }

  list(type: FileType): AsyncIterable<FileInfo> {
    return this.inner.list(type);
  }

  remove(h: Handle): Promise<void> {
    return this.inner.remove(h);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
