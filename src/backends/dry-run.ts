/**
 * restic's dry-run backend: reads go to the real store, writes and removals are dropped.
 * `backup --dry-run` and friends run their whole pipeline (chunking, encoding, index
 * bookkeeping) against it, so their statistics are the real ones and nothing changes.
 */
import type { Backend, CallOptions, FileInfo, FileType, Handle } from './backend.js';

/**
 * A backend that reads from `inner` and drops every write and removal (restic's dry run).
 *
 * @example
 * ```ts
 * const repo = await Repository.open(new DryRunBackend(new LocalBackend('/srv/repo')), password, { lock: false });
 * const { stats } = await backup(repo, ['/data']); // what a real backup would add; nothing is written
 * ```
 */
export class DryRunBackend implements Backend {
  constructor(readonly inner: Backend) {}

  get location(): string {
    return this.inner.location;
  }

  async create(opts?: CallOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
  }

  async save(_h: Handle, _data: Uint8Array, opts?: CallOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
  }

  load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    return this.inner.load(h, offset, length, opts);
  }

  stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    return this.inner.stat(h, opts);
  }

  list(type: FileType, opts?: CallOptions): AsyncIterable<FileInfo> {
    return this.inner.list(type, opts);
  }

  async remove(_h: Handle, opts?: CallOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
