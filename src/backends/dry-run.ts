/**
 * restic's dry-run backend: reads go to the real store, writes and removals are dropped.
 * `backup --dry-run` and friends run their whole pipeline (chunking, encoding, index
 * bookkeeping) against it, so their statistics are the real ones and nothing changes.
 */
import type { Backend, FileInfo, FileType, Handle } from './backend.js';

export class DryRunBackend implements Backend {
  constructor(readonly inner: Backend) {}

  get location(): string {
    return this.inner.location;
  }

  async create(): Promise<void> {}

  async save(_h: Handle, _data: Uint8Array): Promise<void> {}

  load(h: Handle, offset?: number, length?: number): Promise<Uint8Array> {
    return this.inner.load(h, offset, length);
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h);
  }

  list(type: FileType): AsyncIterable<FileInfo> {
    return this.inner.list(type);
  }

  async remove(_h: Handle): Promise<void> {}

  async close(): Promise<void> {
    await this.inner.close();
  }
}
