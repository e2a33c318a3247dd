/**
 * Backup of a virtual tree: entries given by the caller (bytes, strings, Node or Web
 * streams, async iterables) instead of files on disk. This is how an operator stores
 * manifests and a streamed database dump without temporary files, and what
 * `backup --stdin` uses. Content is chunked as it streams in; memory stays bounded.
 */
import os from 'node:os';
import path from 'node:path';
import type { Repository } from '../repository/repository.js';
import type { Node, NodeType } from '../format/node.js';
import type { Snapshot } from '../format/snapshot.js';
import { encodeTree, sortNodes } from '../format/tree.js';
import { goModeFromPosix } from '../format/mode.js';
import { goTimeFromNs, nowGoTime, parseGoTime } from '../go/time.js';
import { safeUsername } from '../format/key.js';
import { hashId } from '../format/id.js';
import { chunkStream } from '../chunker/index.js';
import { UsageError } from '../errors.js';
import { groupName, userName } from './users.js';
import { type BackupStats, snapshotSummary } from './archiver.js';

export type EntryContent = Uint8Array | string | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array> | ReadableStream<Uint8Array>;

export interface VirtualEntry {
  /** Path below the root, '/'-separated (e.g. "db/che.sql"). */
  path: string;
  type?: 'file' | 'dir' | 'symlink';
  /** Permission bits (default 0644 for files, 0755 for dirs, 0777 for symlinks). */
  mode?: number;
  /** Modification time (default: now). */
  mtime?: Date | string;
  uid?: number;
  gid?: number;
  user?: string;
  group?: string;
  content?: EntryContent;
  linktarget?: string;
  /** Hard link count recorded for a file or symlink (default 1; 0 leaves it out, as restic's --stdin does). */
  links?: number;
}

export interface VirtualBackupOptions {
  /** Absolute path the entries appear under (default "/"). */
  root?: string;
  hostname?: string;
  tags?: string[];
  time?: string;
  programVersion?: string;
  /** When the backup started, for the snapshot's summary (default: when run() starts). */
  backupStart?: string;
  signal?: AbortSignal;
  /** Snapshot paths (default: [root]); `backup --stdin` records "/<filename>". */
  paths?: string[];
  /** Called after each entry is stored. */
  onEntry?: (path: string, bytes: number) => void;
}

export interface VirtualBackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  files: number;
  bytes: number;
  /** The counts restic's backup summary shows (every file and directory is new here). */
  stats: BackupStats;
}

interface DirBuild {
  children: Map<string, DirBuild | Node>;
  meta?: VirtualEntry;
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

function toGoTime(t: Date | string | undefined, fallback: string): string {
  if (t === undefined) return fallback;
  if (typeof t === 'string') {
    parseGoTime(t); // validates
    return t;
  }
  return goTimeFromNs(BigInt(t.getTime()) * 1_000_000n);
}

function splitPath(p: string): string[] {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (!parts.length || parts.some((c) => c === '..' || c.includes('\0'))) {
    throw new UsageError(`invalid entry path ${JSON.stringify(p)}`);
  }
  return parts;
}

async function* pieces(content: EntryContent): AsyncGenerator<Uint8Array> {
  if (typeof content === 'string') {
    yield Buffer.from(content);
  } else if (content instanceof Uint8Array) {
    yield content;
  } else if (typeof (content as ReadableStream).getReader === 'function') {
    const reader = (content as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield value;
    }
  } else {
    for await (const p of content as AsyncIterable<Uint8Array | string>) yield typeof p === 'string' ? Buffer.from(p) : p;
  }
}

export class VirtualArchiver {
  private files = 0;
  private bytes = 0;
  private dirs = 0;
  /** Plaintext bytes of blobs new to the repository. */
  private addedPlain = 0;

  constructor(
    private readonly repo: Repository,
    private readonly opts: VirtualBackupOptions = {},
  ) {}

  private baseNode(name: string, type: NodeType, e: VirtualEntry | undefined, now: string): Node {
    const uid = e?.uid ?? process.getuid?.() ?? 0;
    const gid = e?.gid ?? process.getgid?.() ?? 0;
    const perm = e?.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
    const fmt = type === 'dir' ? S_IFDIR : type === 'symlink' ? S_IFLNK : S_IFREG;
    const mtime = toGoTime(e?.mtime, now);
    return {
      name: Buffer.from(name),
      type,
      mode: goModeFromPosix(fmt | (perm & 0o7777)),
      mtime,
      atime: mtime,
      ctime: mtime,
      uid,
      gid,
      user: e?.user ?? (userName(uid) || undefined),
      group: e?.group ?? (groupName(gid) || undefined),
      content: null,
    };
  }

  private async fileContent(content: EntryContent | undefined): Promise<{ ids: string[]; size: number }> {
    const ids: string[] = [];
    let size = 0;
    if (content === undefined) return { ids, size };
    for await (const chunk of chunkStream(pieces(content), this.repo.config.chunkerPolynomial)) {
      this.opts.signal?.throwIfAborted();
      const r = await this.repo.saveBlob('data', chunk.data, hashId(chunk.data));
      if (!r.known) this.addedPlain += chunk.data.length;
      ids.push(r.id);
      size += chunk.data.length;
    }
    return { ids, size };
  }

  /** Place one entry in the tree being built, storing a file's content. */
  private async addEntry(top: DirBuild, e: VirtualEntry, now: string): Promise<void> {
    const parts = splitPath(e.path);
    let dir = top;
    for (const c of parts.slice(0, -1)) {
      let next = dir.children.get(c);
      if (!next) dir.children.set(c, (next = { children: new Map() }));
      if (!('children' in next)) throw new UsageError(`entry ${e.path}: ${c} is not a directory`);
      dir = next;
    }
    const name = parts[parts.length - 1]!;
    if (dir.children.has(name) && e.type !== 'dir') throw new UsageError(`duplicate entry ${e.path}`);
    const type = e.type ?? 'file';
    if (type === 'dir') {
      const existing = dir.children.get(name);
      if (existing && 'children' in existing) existing.meta = e;
      else dir.children.set(name, { children: new Map(), meta: e });
      return;
    }
    const node = this.baseNode(name, type, e, now);
    if (type === 'symlink') {
      node.linktarget = Buffer.from(e.linktarget ?? '');
      if (e.links !== 0) node.links = e.links ?? 1;
    } else {
      const { ids, size } = await this.fileContent(e.content);
      node.content = ids;
      node.size = size;
      if (e.links !== 0) node.links = e.links ?? 1;
      this.files++;
      this.bytes += size;
      this.opts.onEntry?.(e.path, size);
    }
    dir.children.set(name, node);
  }

  /** Store the entries and write a snapshot. Entries are consumed in order (streams once). */
  async run(entries: Iterable<VirtualEntry> | AsyncIterable<VirtualEntry>): Promise<VirtualBackupResult> {
    const backupStart = this.opts.backupStart ?? nowGoTime();
    const now = this.opts.time ?? backupStart;
    const root = path.posix.resolve('/', this.opts.root ?? '/');
    await this.repo.loadIndex();
    const before = { ...this.repo.added };
    const top: DirBuild = { children: new Map() };
    for await (const e of entries) {
      this.opts.signal?.throwIfAborted();
      await this.addEntry(top, e, now);
    }
    // Root path components become intermediate directories, as for file-system backups.
    let tree = await this.saveDir(top, now);
    const comps = root.split('/').filter(Boolean);
    for (let i = comps.length - 1; i >= 0; i--) {
      const node = this.baseNode(comps[i]!, 'dir', undefined, now);
      node.subtree = tree;
      tree = await this.saveTree([node]);
      this.dirs++;
    }
    await this.repo.flush();
    const stats = this.stats(before);
    const snapshot: Snapshot = {
      time: now,
      tree,
      paths: this.opts.paths ?? [root],
      hostname: this.opts.hostname ?? os.hostname(),
      username: safeUsername(),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      tags: this.opts.tags?.length ? this.opts.tags : undefined,
      programVersion: this.opts.programVersion,
      summary: snapshotSummary(stats, backupStart, nowGoTime()),
    };
    const snapshotId = await this.repo.saveSnapshot(snapshot);
    return { snapshotId, snapshot, files: this.files, bytes: this.bytes, stats };
  }

  private stats(before: Repository['added']): BackupStats {
    const a = this.repo.added;
    return {
      filesNew: this.files,
      filesChanged: 0,
      filesUnmodified: 0,
      dirsNew: this.dirs,
      dirsChanged: 0,
      dirsUnmodified: 0,
      dataBlobs: a.dataBlobs - before.dataBlobs,
      treeBlobs: a.treeBlobs - before.treeBlobs,
      dataAdded: this.addedPlain,
      dataAddedStored: a.data + a.tree - before.data - before.tree,
      totalFilesProcessed: this.files,
      totalBytesProcessed: this.bytes,
    };
  }

  private async saveTree(nodes: Node[]): Promise<string> {
    const data = encodeTree(sortNodes(nodes));
    const r = await this.repo.saveBlob('tree', data);
    if (!r.known) this.addedPlain += data.length;
    return r.id;
  }

  private async saveDir(dir: DirBuild, now: string): Promise<string> {
    const nodes: Node[] = [];
    for (const [name, child] of dir.children) {
      if ('children' in child) {
        const node = this.baseNode(name, 'dir', child.meta, now);
        node.subtree = await this.saveDir(child, now);
        this.dirs++;
        nodes.push(node);
      } else nodes.push(child);
    }
    return this.saveTree(nodes);
  }
}

/** Back up a virtual tree of entries into one snapshot. */
export function backupEntries(
  repo: Repository,
  entries: Iterable<VirtualEntry> | AsyncIterable<VirtualEntry>,
  opts: VirtualBackupOptions = {},
): Promise<VirtualBackupResult> {
  return new VirtualArchiver(repo, opts).run(entries);
}
