/**
 * The one storage interface every store (local, memory, REST, S3, SFTP) implements.
 * A backend moves opaque files; it knows nothing about encryption or the format
 * beyond restic's file types and the default layout.
 */
import { ResticError } from '../errors.js';
import { isId } from '../format/id.js';

export type FileType = 'config' | 'key' | 'pack' | 'index' | 'snapshot' | 'lock';

export const FILE_TYPES: readonly FileType[] = ['config', 'key', 'pack', 'index', 'snapshot', 'lock'];

/** Identifies one file. `name` is the 64-hex ID; for `config` it is ignored. */
export interface Handle {
  type: FileType;
  name: string;
}

export interface FileInfo {
  name: string;
  size: number;
}

export interface Backend {
  /** Human-readable location, used in messages. */
  readonly location: string;
  /** Create the repository layout (directories, bucket). Does not write config. */
  create(): Promise<void>;
  /** Store a file atomically; saving the same name again with the same bytes is harmless. */
  save(h: Handle, data: Uint8Array): Promise<void>;
  /**
   * Read a file or part of it. `length` undefined or 0 means "to the end".
   * Throws NotFoundError when the file does not exist.
   */
  load(h: Handle, offset?: number, length?: number): Promise<Uint8Array>;
  /**
   * Optional load() into memory from `alloc` (e.g. a recycled buffer); returns the filled
   * view. For readers that keep a few large buffers instead of allocating one per file.
   */
  loadInto?(h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array): Promise<Uint8Array>;
  /**
   * Optional, with adoptTempFile: a directory on the store's own file system where packs can
   * be written while they are assembled, before their name (their SHA-256) is known.
   */
  packTempDir?(): string;
  /** Commit a complete file written in packTempDir() as `h`, with save()'s guarantees. */
  adoptTempFile?(h: Handle, tmp: string): Promise<void>;
  /** Optional save() of a local file's content, streamed: the file is never whole in memory. */
  saveFile?(h: Handle, file: string): Promise<void>;
  /** Size of a file; NotFoundError when missing. */
  stat(h: Handle): Promise<FileInfo>;
  /** All files of a type whose names are 64-hex IDs (others are ignored, as restic does). */
  list(type: FileType): AsyncIterable<FileInfo>;
  /** Delete a file; deleting a missing file is not an error. */
  remove(h: Handle): Promise<void>;
  /** Release connections and other resources. */
  close(): Promise<void>;
}

/** restic's Handle.Valid, plus: a name must not escape its directory. */
export function checkHandle(h: Handle): void {
  if (!FILE_TYPES.includes(h.type)) throw new ResticError(`invalid file type ${JSON.stringify(h.type)}`);
  if (h.type === 'config') return;
  const n = h.name;
  if (!n || n === '.' || n === '..' || /[/\\\0]/.test(n)) throw new ResticError(`invalid ${h.type} file name ${JSON.stringify(n)}`);
}

/** A handle for messages: "config file" or "<type> file <name>". */
export function describeHandle(h: Handle): string {
  return h.type === 'config' ? 'config file' : `${h.type} file ${h.name}`;
}

/** restic ignores names that are not IDs (temp files, stray files). */
export function isIdName(name: string): boolean {
  return isId(name);
}

/** Path of a file relative to the repository root in restic's default layout. */
export function defaultLayoutPath(h: Handle): string {
  switch (h.type) {
    case 'config':
      return 'config';
    case 'pack':
      return `data/${h.name.slice(0, 2)}/${h.name}`;
    case 'key':
      return `keys/${h.name}`;
    case 'index':
      return `index/${h.name}`;
    case 'snapshot':
      return `snapshots/${h.name}`;
    case 'lock':
      return `locks/${h.name}`;
  }
}

/** Directory of a file type in the default layout. */
export function defaultLayoutDir(type: FileType): string {
  switch (type) {
    case 'config':
      return '';
    case 'pack':
      return 'data';
    case 'key':
      return 'keys';
    case 'index':
      return 'index';
    case 'snapshot':
      return 'snapshots';
    case 'lock':
      return 'locks';
  }
}

/** Options a remote backend may need, gathered from flags and environment by the caller. */
export interface BackendOptions {
  env?: NodeJS.ProcessEnv;
  /** `-o key=value` extended options. */
  extended?: Record<string, string>;
  /** `--cacert` files: extra trusted CA certificates for TLS (REST, S3). */
  cacert?: string[];
  /** `--insecure-tls`: skip TLS certificate verification (only when asked for). */
  insecureTls?: boolean;
  /** `--ssh-key-file`: private key for SFTP (else SSH_KEY_FILE, SSH_KEY, ~/.ssh/id_*). */
  sshKeyFile?: string;
}
