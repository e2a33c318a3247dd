/**
 * In-memory backend for unit tests, with the local backend's semantics. Bytes are copied on
 * save and on load so callers can never mutate what is stored.
 */
import { throwIfAborted, NotFoundError, ResticError } from '../errors.js';
import {
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  describeHandle,
  FILE_TYPES,
  isIdName,
  type CallOptions,
} from './backend.js';

/**
 * A repository in memory, for tests and experiments.
 *
 * @example
 * ```ts
 * const repo = await Repository.init(new MemoryBackend(), 'pw'); // for tests: nothing touches the disk
 * ```
 */
export class MemoryBackend implements Backend {
  readonly location: string;
  private readonly files = new Map<FileType, Map<string, Uint8Array>>(FILE_TYPES.map((t) => [t, new Map()]));

  constructor(location = 'memory:') {
    this.location = location;
  }

  async create(opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    if (this.files.get('config')!.size) throw new ResticError(`config file already exists at ${this.location}`);
  }

  async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    // new Uint8Array copies; Buffer#slice would share memory.
    this.dir(h).set(key(h), new Uint8Array(data));
  }

  async load(h: Handle, offset = 0, length = 0, opts?: CallOptions): Promise<Uint8Array> {
    throwIfAborted(opts?.signal);
    const f = this.get(h);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ResticError(`${describeHandle(h)}: invalid offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new ResticError(`${describeHandle(h)}: invalid length ${length}`);
    if (offset > f.length)
      throw new ResticError(`${describeHandle(h)}: offset ${offset} is beyond the end of the file (${f.length} bytes)`);
    const end = length ? offset + length : f.length;
    if (end > f.length) {
      throw new ResticError(
        `${describeHandle(h)}: unexpected EOF: wanted ${length} bytes at offset ${offset}, the file has ${f.length} bytes`,
      );
    }
    return f.slice(offset, end);
  }

  async stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    throwIfAborted(opts?.signal);
    return { name: h.name, size: this.get(h).length };
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    throwIfAborted(opts?.signal);
    // Snapshot the entries: callers may save or remove while iterating.
    const entries = [...(this.files.get(type) ?? [])];
    for (const [name, data] of entries) if (isIdName(name)) yield { name, size: data.length };
  }

  async remove(h: Handle, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    this.dir(h).delete(key(h));
  }

  async close(): Promise<void> {}

  private dir(h: Handle): Map<string, Uint8Array> {
    const m = this.files.get(h.type);
    if (!m) throw new ResticError(`invalid file type ${JSON.stringify(h.type)}`);
    if (h.type !== 'config' && !h.name) throw new ResticError(`invalid ${h.type} file name ""`);
    return m;
  }

  private get(h: Handle): Uint8Array {
    const f = this.dir(h).get(key(h));
    if (!f) throw new NotFoundError(`${describeHandle(h)} does not exist in ${this.location}`);
    return f;
  }
}

/** The config file has a single slot whatever name the handle carries. */
function key(h: Handle): string {
  return h.type === 'config' ? '' : h.name;
}
