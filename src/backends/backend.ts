/**
 * The one storage interface every store (local, memory, REST, S3, SFTP) implements.
 * A backend moves opaque files; it knows nothing about encryption or the format
 * beyond restic's file types and the default layout.
 */
import { ResticError } from '../errors.js';
import { isId } from '../format/id.js';

/** restic's file types (one directory each in the default layout). */
export type FileType = 'config' | 'key' | 'pack' | 'index' | 'snapshot' | 'lock';

/**
 * restic's file types, in the order restic lists them.
 *
 * @example
 * ```ts
 * for (const type of FILE_TYPES) for await (const f of backend.list(type)) console.log(type, f.name, f.size);
 * ```
 */
export const FILE_TYPES: readonly FileType[] = ['config', 'key', 'pack', 'index', 'snapshot', 'lock'];

/** Identifies one file. `name` is the 64-hex ID; for `config` it is ignored. */
export interface Handle {
  type: FileType;
  name: string;
  /** A pack holding tree blobs: a cache keeps such packs (restic's IsMetadata). */
  tree?: boolean;
}

/** A file's name and size, as listed. */
export interface FileInfo {
  name: string;
  size: number;
}

/**
 * Per-call options every Backend method takes as its last argument. A backend stops (rejects
 * with AbortedError or an AbortError) when `signal` fires; one that cannot interrupt a request
 * checks the signal before starting it.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/** save()'s options. */
export interface SaveOptions extends CallOptions {
  /**
   * The bytes' SHA-256 (hex), when the caller has it (a pack's or file's ID): a store that
   * sends a content hash uses it instead of hashing the bytes again.
   */
  sha256?: string;
}

/**
 * The storage interface every store implements (local, memory, REST, S3, SFTP): files by
 * type and name. Every method takes `{ signal }` last.
 */
export interface Backend {
  /** Human-readable location, used in messages. */
  readonly location: string;
  /** Create the repository layout (directories, bucket). Does not write config. */
  create(opts?: CallOptions): Promise<void>;
  /** Store a file atomically; saving the same name again with the same bytes is harmless. */
  save(h: Handle, data: Uint8Array, opts?: SaveOptions): Promise<void>;
  /**
   * Read a file or part of it. `length` undefined or 0 means "to the end".
   * Throws NotFoundError when the file does not exist.
   */
  load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array>;
  /**
   * Optional load() into memory from `alloc` (e.g. a recycled buffer); returns the filled
   * view. For readers that keep a few large buffers instead of allocating one per file.
   */
  loadInto?(h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array, opts?: CallOptions): Promise<Uint8Array>;
  /**
   * Optional, with adoptTempFile: a directory on the store's own file system where packs can
   * be written while they are assembled, before their name (their SHA-256) is known.
   */
  packTempDir?(): string;
  /** Commit a complete file written in packTempDir() as `h`, with save()'s guarantees. */
  adoptTempFile?(h: Handle, tmp: string, opts?: CallOptions): Promise<void>;
  /** Optional save() of a local file's content, streamed: the file is never whole in memory. */
  saveFile?(h: Handle, file: string, opts?: CallOptions): Promise<void>;
  /** Size of a file; NotFoundError when missing. */
  stat(h: Handle, opts?: CallOptions): Promise<FileInfo>;
  /** All files of a type whose names are 64-hex IDs (others are ignored, as restic does). */
  list(type: FileType, opts?: CallOptions): AsyncIterable<FileInfo>;
  /** Delete a file; deleting a missing file is not an error. */
  remove(h: Handle, opts?: CallOptions): Promise<void>;
  /**
   * Optional: temp files (see isTempName) in the repository's folders, left behind by a
   * writer that was killed before it renamed them into place.
   */
  listTempFiles?(): AsyncIterable<TempFileInfo>;
  /** Optional: delete one file listListTempFiles() gave (a missing file is not an error). */
  removeTempFile?(path: string): Promise<void>;
  /** Release connections and other resources. */
  close(): Promise<void>;
  /**
   * Optional (a cache layer): drop a local copy of `h` that failed verification (`reason`),
   * so the next load reads the store. True when a copy was dropped and a retry may help.
   */
  forget?(h: Handle, reason: string): Promise<boolean>;
  /** Optional (a cache layer): drop local copies of `type` files for which `keep` is false. */
  retain?(type: FileType, keep: (name: string) => boolean): Promise<void>;
}

export interface TempFileInfo {
  /** Relative to the repository root, with '/' separators (e.g. `data/ab/pack-tmp-…`). */
  path: string;
  size: number;
  /** Last modification, ms since the epoch (the store's clock). */
  mtimeMs: number;
}

/**
 * Names of files written before being renamed into place: restic's local backend
 * (`<name>-tmp-<digits>`), its sftp backend (`<name>-restic-temp-<hex>`), our local
 * backend (`<name>-tmp-<hex>`) and pack assembler (`pack-tmp-<hex>`).
 */
export function isTempName(name: string): boolean {
  return /^(?:[0-9a-f]{64}|config)-(?:tmp-[0-9a-z]+|restic-temp-[0-9a-f]+)$|^pack-tmp-[0-9a-f]+$/.test(name);
}

/** The folders of the default layout temp files can be in, relative to the root. */
export function tempFileFolders(): string[] {
  const data = Array.from({ length: 256 }, (_, i) => `data/${i.toString(16).padStart(2, '0')}`);
  return ['', 'keys', 'locks', 'snapshots', 'index', ...data];
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
  /** known_hosts text for SFTP (e.g. from a Kubernetes secret), instead of a known_hosts file. */
  sftpKnownHosts?: { text: string; source: string };
  /** `--tls-client-cert`: a PEM file with the TLS client certificate and its private key (REST, S3). */
  tlsClientCert?: string;
  /** `--stuck-request-timeout`: default idle timeout of remote requests, in ms. */
  stuckRequestTimeoutMs?: number;
}
