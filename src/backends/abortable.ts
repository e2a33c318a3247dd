/**
 * A Backend bound to one cancellation signal (the CLI's per-command AbortController): once it
 * fires, no request starts any more — no pack, index or snapshot is written or deleted after
 * a SIGINT/SIGTERM, whatever the command was doing — and requests in flight are cancelled.
 * Removing a lock file stays allowed: releasing the command's lock is part of stopping.
 */
import { throwIfAborted } from '../errors.js';
import type { Backend, CallOptions, FileInfo, FileType, Handle, TempFileInfo } from './backend.js';

export class AbortableBackend implements Backend {
  readonly location: string;
  readonly loadInto?: NonNullable<Backend['loadInto']>;
  readonly saveFile?: NonNullable<Backend['saveFile']>;
  readonly packTempDir?: () => string;
  readonly adoptTempFile?: NonNullable<Backend['adoptTempFile']>;
  readonly listTempFiles?: () => AsyncIterable<TempFileInfo>;
  readonly removeTempFile?: (path: string) => Promise<void>;
  readonly forget?: NonNullable<Backend['forget']>;
  readonly retain?: NonNullable<Backend['retain']>;

  constructor(
    readonly inner: Backend,
    private readonly signal: AbortSignal,
  ) {
    this.location = inner.location;
    const { loadInto, saveFile, packTempDir, adoptTempFile, listTempFiles, removeTempFile, forget, retain } = inner;
    // streamed pack uploads (spooled temp files) stay streamed
    if (saveFile) this.saveFile = (h, file, opts) => this.begin(() => saveFile.call(inner, h, file, this.call(opts)));
    if (forget) this.forget = (h, reason) => forget.call(inner, h, reason);
    if (retain) this.retain = (type, keep) => retain.call(inner, type, keep);
    if (loadInto)
      this.loadInto = (h, offset, length, alloc, opts) => this.begin(() => loadInto.call(inner, h, offset, length, alloc, this.call(opts)));
    if (packTempDir && adoptTempFile) {
      this.packTempDir = () => packTempDir.call(inner);
      // not refused here: the inner backend removes the temp file when the signal has fired
      this.adoptTempFile = (h, tmp, opts) => adoptTempFile.call(inner, h, tmp, this.call(opts));
    }
    if (listTempFiles && removeTempFile) {
      this.listTempFiles = () => listTempFiles.call(inner);
      this.removeTempFile = (p) => this.begin(() => removeTempFile.call(inner, p));
    }
  }

  /** The caller's signal joined with the command's. */
  private call(opts?: CallOptions): CallOptions {
    return { ...opts, signal: opts?.signal ? AbortSignal.any([opts.signal, this.signal]) : this.signal };
  }

  private async begin<T>(fn: () => Promise<T>): Promise<T> {
    throwIfAborted(this.signal, 'command');
    return fn();
  }

  create(opts?: CallOptions): Promise<void> {
    return this.begin(() => this.inner.create(this.call(opts)));
  }

  save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    return this.begin(() => this.inner.save(h, data, this.call(opts)));
  }

  load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    return this.begin(() => this.inner.load(h, offset, length, this.call(opts)));
  }

  stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    return this.begin(() => this.inner.stat(h, this.call(opts)));
  }

  async *list(type: FileType, opts?: CallOptions): AsyncIterable<FileInfo> {
    throwIfAborted(this.signal, 'command');
    for await (const f of this.inner.list(type, this.call(opts))) {
      throwIfAborted(this.signal, 'command');
      yield f;
    }
  }

  remove(h: Handle, opts?: CallOptions): Promise<void> {
    // a lock is removed even after the signal, without it: that is the cleanup
    if (h.type === 'lock') return this.inner.remove(h, opts);
    return this.begin(() => this.inner.remove(h, this.call(opts)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
