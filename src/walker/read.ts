/**
 * Reading a snapshot by path, as a library caller wants it: stat one path, list one
 * directory, walk a subtree, read a file's content as a stream, or restore into a
 * caller-supplied sink. Paths are ordinary (UTF-8) strings; a Uint8Array names a path by
 * its raw bytes, for names that are not UTF-8. Each call holds a shared lock while it
 * reads (see OperationOptions) and stops on its AbortSignal.
 */
import { NotFoundError, UsageError, checkArg } from '../errors.js';
import type { Node } from '../format/node.js';
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';

/** A path inside a snapshot: a UTF-8 string such as `/etc/hosts`, or its raw bytes. */
export type SnapshotPath = string | Uint8Array;

/** One entry of a snapshot with its path (as text and as the raw bytes stored). */
export interface TreeEntry {
  /** Absolute path inside the snapshot, decoded as UTF-8 (invalid bytes become U+FFFD). */
  path: string;
  /** The same path as the raw bytes the snapshot stores. */
  pathBytes: Buffer;
  node: Node;
}

const SLASH = 0x2f;

/** Path components as raw bytes; '.' and empty components are dropped, '..' is refused. */
function components(p: SnapshotPath, where: string): Buffer[] {
  checkArg(typeof p === 'string' || p instanceof Uint8Array, where, 'a path (a string or a Uint8Array)', p);
  const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== SLASH) continue;
    const c = bytes.subarray(start, i);
    start = i + 1;
    if (c.length === 0 || (c.length === 1 && c[0] === 0x2e)) continue;
    if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) throw new UsageError(`${where}: ".." is not allowed in a snapshot path`);
    out.push(c);
  }
  return out;
}

function joinBytes(parts: Uint8Array[]): Buffer {
  const out: Uint8Array[] = [];
  for (const p of parts) out.push(Buffer.of(SLASH), p);
  return out.length ? Buffer.concat(out) : Buffer.of(SLASH);
}

/** The path of `name` inside directory `dir` (an absolute path; '/' for the root). */
function childPath(dir: Buffer, name: Uint8Array): Buffer {
  return Buffer.concat([dir.length === 1 ? Buffer.alloc(0) : dir, Buffer.of(SLASH), name]);
}

function entry(pathBytes: Buffer, node: Node): TreeEntry {
  return { path: pathBytes.toString('utf8'), pathBytes, node };
}

/** The snapshot's root directory as a node (restic stores no node for it). */
function rootNode(tree: string, time: string): Node {
  return {
    name: new Uint8Array(),
    type: 'dir',
    mode: 0o20000000755,
    mtime: time,
    atime: time,
    ctime: time,
    uid: 0,
    gid: 0,
    content: null,
    subtree: tree,
  };
}

/** Resolve `p` in snapshot `spec` ('latest', an ID or a unique prefix) to its entry. */
async function resolve(repo: Repository, spec: string, p: SnapshotPath, where: string): Promise<TreeEntry> {
  checkArg(typeof spec === 'string', where, 'a snapshot ID or "latest"', spec);
  const parts = components(p, where);
  await repo.loadIndex();
  const { snapshot } = await repo.findSnapshot(spec);
  if (!snapshot.tree) throw new NotFoundError(`snapshot ${spec} has no tree`);
  let node = rootNode(snapshot.tree, snapshot.time);
  for (let i = 0; i < parts.length; i++) {
    if (node.type !== 'dir' || !node.subtree)
      throw new NotFoundError(`${where}: ${joinBytes(parts.slice(0, i)).toString()} is not a directory`);
    const found = (await repo.loadTree(node.subtree)).find((n) => Buffer.from(n.name).equals(parts[i]!));
    if (!found) throw new NotFoundError(`${where}: ${joinBytes(parts.slice(0, i + 1)).toString()} not found in snapshot ${spec}`);
    node = found;
  }
  return entry(joinBytes(parts), node);
}

/**
 * The entry at `path` in a snapshot (the root directory for '/').
 *
 * @example
 * ```ts
 * const { node } = await stat(repo, 'latest', '/etc/hosts');
 * console.log(node.type, node.size);
 * ```
 */
export async function stat(repo: Repository, snapshot: string, path: SnapshotPath, opts?: OperationOptions): Promise<TreeEntry> {
  checkRepository(repo, 'stat');
  return repo.runLocked('stat', false, opts, () => resolve(repo, snapshot, path, 'stat'));
}

/**
 * The entries of one directory of a snapshot, in the snapshot's (byte) order.
 *
 * @example
 * ```ts
 * for (const e of await listDirectory(repo, 'latest', '/home')) console.log(e.path, e.node.type);
 * ```
 */
export async function listDirectory(repo: Repository, snapshot: string, path: SnapshotPath, opts?: OperationOptions): Promise<TreeEntry[]> {
  checkRepository(repo, 'listDirectory');
  return repo.runLocked('listDirectory', false, opts, async () => {
    const dir = await resolve(repo, snapshot, path, 'listDirectory');
    if (dir.node.type !== 'dir' || !dir.node.subtree) throw new UsageError(`listDirectory: ${dir.path} is not a directory`);
    return (await repo.loadTree(dir.node.subtree)).map((n) => entry(childPath(dir.pathBytes, n.name), n));
  });
}

/**
 * Every entry below `path` (default the whole snapshot), depth first, parents before their
 * children. The shared lock is held until the iteration ends (or `break`s).
 *
 * @example
 * ```ts
 * for await (const e of walk(repo, 'latest', '/etc')) if (e.node.type === 'file') console.log(e.path);
 * ```
 */
export function walk(repo: Repository, snapshot: string, path: SnapshotPath = '/', opts?: OperationOptions): AsyncGenerator<TreeEntry> {
  checkRepository(repo, 'walk');
  return repo.iterateLocked('walk', false, opts, async function* () {
    const top = await resolve(repo, snapshot, path, 'walk');
    yield* walkBelow(repo, top, opts?.signal);
  });
}

async function* walkBelow(repo: Repository, dir: TreeEntry, signal?: AbortSignal): AsyncGenerator<TreeEntry> {
  if (dir.node.type !== 'dir' || !dir.node.subtree) return;
  for (const n of await repo.loadTree(dir.node.subtree)) {
    signal?.throwIfAborted();
    const e = entry(childPath(dir.pathBytes, n.name), n);
    yield e;
    yield* walkBelow(repo, e, signal);
  }
}

/**
 * A file's content as a stream of verified chunks (wrap it in `Readable.from()` for a
 * Node.js stream).
 *
 * @example
 * ```ts
 * import { Readable } from 'node:stream';
 * Readable.from(readFile(repo, 'latest', '/etc/hosts')).pipe(process.stdout);
 * ```
 */
export function readFile(repo: Repository, snapshot: string, path: SnapshotPath, opts?: OperationOptions): AsyncGenerator<Uint8Array> {
  checkRepository(repo, 'readFile');
  return repo.iterateLocked('readFile', false, opts, async function* () {
    const f = await resolve(repo, snapshot, path, 'readFile');
    if (f.node.type !== 'file') throw new UsageError(`readFile: ${f.path} is not a regular file (${f.node.type})`);
    for (const id of f.node.content ?? []) yield await repo.loadBlob('data', id);
  });
}

/** Where restoreToSink() puts a snapshot's entries. Each call is awaited before the next. */
export interface RestoreSink {
  /** Every entry (directories before their contents); `content` is set for regular files. */
  entry(e: TreeEntry, content?: AsyncIterable<Uint8Array>): Promise<void> | void;
}

/**
 * Restore a snapshot (or the subtree at `opts.path`) into a caller-supplied sink instead of
 * a directory: an archive, an object store, a test's memory.
 *
 * @example
 * ```ts
 * const files = new Map<string, number>();
 * await restoreToSink(repo, 'latest', {
 *   async entry(e, content) {
 *     let n = 0;
 *     if (content) for await (const chunk of content) n += chunk.length;
 *     files.set(e.path, n);
 *   },
 * });
 * ```
 */
export async function restoreToSink(
  repo: Repository,
  snapshot: string,
  sink: RestoreSink,
  opts: OperationOptions & { path?: SnapshotPath } = {},
): Promise<{ entries: number; bytes: number }> {
  checkRepository(repo, 'restoreToSink');
  checkArg(typeof sink?.entry === 'function', 'restoreToSink', 'a sink with an entry() method', sink);
  return repo.runLocked('restoreToSink', false, opts, async () => {
    const top = await resolve(repo, snapshot, opts.path ?? '/', 'restoreToSink');
    const out = { entries: 0, bytes: 0 };
    const content = async function* (n: Node): AsyncGenerator<Uint8Array> {
      for (const id of n.content ?? []) {
        opts.signal?.throwIfAborted();
        const b = await repo.loadBlob('data', id);
        out.bytes += b.length;
        yield b;
      }
    };
    const emit = async (e: TreeEntry) => {
      out.entries++;
      await sink.entry(e, e.node.type === 'file' ? content(e.node) : undefined);
    };
    if (top.node.type !== 'dir') await emit(top);
    for await (const e of walkBelow(repo, top, opts.signal)) await emit(e);
    return out;
  });
}
