/**
 * Backup of files and directories into a snapshot. Walks the targets depth first,
 * chunks file contents with the repository's polynomial, stores new blobs, writes one
 * tree per directory and finally the snapshot.
 */
import os from 'node:os';
import path from 'node:path';
import type { Repository } from '../repository/repository.js';
import type { BlobWindow } from '../parallel/blob-pool.js';
import type { Node } from '../format/node.js';
import type { Snapshot } from '../format/snapshot.js';
import { encodeTree, sortNodes } from '../format/tree.js';
import { nowGoTime } from '../go/time.js';
import { bstr } from '../go/bytestring.js';
import { safeUsername } from '../format/key.js';
import { Chunker, chunkReadSync } from '../chunker/index.js';
import { type ArchiverFs, nodeFs } from './fs.js';
import { nodeFromStat, nodeTypeOf } from './node-from-stat.js';
import { type TargetTree, buildTargetTree, nameBytes } from './targets.js';
import { type ExcludeOptions, Excluder } from './exclude.js';

export interface BackupOptions {
  hostname?: string;
  tags?: string[];
  /** Snapshot time (Go RFC3339Nano); now by default. */
  time?: string;
  fs?: ArchiverFs;
  /**
   * Parent snapshot for change detection: an ID (prefix), or undefined to pick the latest
   * snapshot with the same host and paths, as restic does. `false` (= --force) re-reads all.
   */
  parent?: string | false;
  /** restic's exclude options (--exclude, --iexclude, --exclude-caches, …). */
  excludes?: ExcludeOptions;
  onWarning?: (w: BackupWarning) => void;
  /**
   * A file whose size changed while it was read: saved as read, with the size read (old
   * restic's "expected N bytes, saved M bytes"). Not an error: the snapshot is complete.
   */
  onFileChanged?: (c: FileChanged) => void;
  /** Progress, at most every `progressInterval` ms (default 1000). */
  onProgress?: (p: BackupProgress) => void;
  progressInterval?: number;
  programVersion?: string;
  /** Each file and directory once it is saved (restic's verbose "new/unchanged/modified" lines). */
  onItem?: (item: BackupItem) => void;
}

export interface BackupItem {
  /** Path inside the snapshot; directories end in "/". */
  path: string;
  type: 'file' | 'dir';
  action: 'new' | 'unchanged' | 'modified';
  seconds: number;
  /** Plaintext bytes of new blobs (data and trees) this item added. */
  added: number;
}

export interface BackupWarning {
  path: string;
  message: string;
}

export interface FileChanged {
  path: string;
  /** Size from fstat when the file was opened. */
  expected: number;
  /** Bytes actually read and saved: the size recorded in the snapshot. */
  saved: number;
}

export interface BackupProgress {
  secondsElapsed: number;
  filesDone: number;
  bytesDone: number;
  currentFile?: string;
}

export interface BackupStats {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of new data and tree blobs (restic's data_added). */
  dataAdded: number;
  /** The same blobs as stored in packs: encrypted, maybe compressed (restic 0.17's data_added_packed). */
  dataAddedStored: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
}

export interface BackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  stats: BackupStats;
  warnings: BackupWarning[];
  /** Files that grew or shrank while they were read. */
  changed: FileChanged[];
}

/** Read buffer: twice the chunker's maximum chunk so a whole chunk always fits after a shift. */
const READ_BUFFER_SIZE = 16 * 1024 * 1024;
/** Reads into the workers' ring: at least this much room per read, at most this much per call. */
const WINDOW_MIN_READ = 1024 * 1024;
const WINDOW_MAX_READ = 4 * 1024 * 1024;
/**
 * Chunks at least this long (all but the last of a file larger than the chunker's minimum)
 * are hashed by a worker while this thread reads on, when the workers have spare time;
 * smaller ones here, where waiting for a worker's answer would cost more than the hash.
 */
const DEFER_HASH_MIN = 256 * 1024;

export class Archiver {
  private readonly fs: ArchiverFs;
  /** Read buffer, allocated on first use: an unchanged re-backup never reads a file. */
  private buf: Buffer | null = null;
  private readonly excluder: Excluder;
  /** Device of the target being walked, for --one-file-system. */
  private targetDevice: bigint | undefined;
  private readonly started = Date.now();
  private lastProgress = 0;
  /** Plaintext bytes of blobs that were new to the repository. */
  private addedPlain = 0;
  readonly warnings: BackupWarning[] = [];
  readonly changed: FileChanged[] = [];
  readonly stats: BackupStats = {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    dataBlobs: 0,
    treeBlobs: 0,
    dataAdded: 0,
    dataAddedStored: 0,
    totalFilesProcessed: 0,
    totalBytesProcessed: 0,
  };

  constructor(
    private readonly repo: Repository,
    private readonly opts: BackupOptions = {},
  ) {
    this.fs = opts.fs ?? nodeFs;
    this.excluder = new Excluder(this.fs, opts.excludes);
  }

  private warn(p: Buffer | string, err: unknown): void {
    const w = { path: p.toString(), message: (err as Error)?.message ?? String(err) };
    this.warnings.push(w);
    this.opts.onWarning?.(w);
  }

  /** Back up `targets` (files or directories) and save a snapshot. */
  async run(targets: string[]): Promise<BackupResult> {
    if (!targets.length) throw new Error('nothing to back up');
    const time = this.opts.time ?? nowGoTime();
    await this.repo.loadIndex();
    const before = { ...this.repo.added };
    const hostname = this.opts.hostname ?? os.hostname();
    const paths = targets.map((t) => path.resolve(t));
    const parent = await this.findParent(hostname, paths, time);
    const tt = buildTargetTree(this.fs, targets);
    const tree = await this.saveTargetTree(tt, parent?.snapshot.tree ?? undefined);
    await this.repo.flush();
    this.stats.dataBlobs = this.repo.added.dataBlobs - before.dataBlobs;
    this.stats.treeBlobs = this.repo.added.treeBlobs - before.treeBlobs;
    this.stats.dataAdded = this.addedPlain;
    this.stats.dataAddedStored = this.repo.added.data + this.repo.added.tree - before.data - before.tree;
    const snapshot: Snapshot = {
      time,
      parent: parent?.id,
      tree,
      paths,
      hostname,
      username: safeUsername(),
      excludes: this.opts.excludes?.exclude?.length ? this.opts.excludes.exclude : undefined,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      tags: this.opts.tags?.length ? this.opts.tags : undefined,
      programVersion: this.opts.programVersion,
    };
    const snapshotId = await this.repo.saveSnapshot(snapshot);
    return { snapshotId, snapshot, stats: this.stats, warnings: this.warnings, changed: this.changed };
  }

  /** restic's rule: the latest snapshot of this host with exactly these paths, not newer than now. */
  private async findParent(hostname: string, paths: string[], time: string): Promise<{ id: string; snapshot: Snapshot } | undefined> {
    if (this.opts.parent === false) return undefined;
    if (this.opts.parent) return this.repo.findSnapshot(this.opts.parent);
    const want = [...paths].sort().join('\0');
    const limit = Date.parse(time);
    const all = await this.repo.listSnapshots();
    for (let i = all.length - 1; i >= 0; i--) {
      const s = all[i]!.snapshot;
      if (s.hostname === hostname && [...s.paths].sort().join('\0') === want && Date.parse(s.time) <= limit) return all[i];
    }
    return undefined;
  }

  /** Nodes of a parent tree by raw name, for change detection; empty when there is none. */
  private async parentNodes(treeId: string | undefined): Promise<Map<string, Node>> {
    const m = new Map<string, Node>();
    if (!treeId) return m;
    try {
      for (const n of await this.repo.loadTree(treeId)) m.set(bstr(n.name), n);
    } catch (err) {
      this.warn('parent tree ' + treeId.slice(0, 8), err);
    }
    return m;
  }

  private async saveTargetTree(t: TargetTree, parentTree?: string, snPath = '/'): Promise<string> {
    const nodes: Node[] = [];
    const previous = await this.parentNodes(parentTree);
    for (const [k, child] of t.children) {
      const name = nameBytes(k);
      const prev = previous.get(name.toString('latin1'));
      if (child.path) {
        this.targetDevice = this.targetDeviceOf(child.path);
        const node = await this.saveItem(name, child.path, prev, snPath + name.toString() + '/');
        if (node) nodes.push(node);
        continue;
      }
      const meta = child.metaPath!;
      let node: Node;
      try {
        const st = this.fs.lstat(meta);
        node = nodeFromStat(name, st, 'dir');
      } catch (err) {
        this.warn(meta, err);
        continue;
      }
      const started = Date.now();
      const addedBefore = this.addedPlain;
      const prevSubtree = prev?.type === 'dir' ? prev.subtree : undefined;
      node.subtree = await this.saveTargetTree(child, prevSubtree, snPath + name.toString() + '/');
      this.item(
        snPath + name.toString() + '/',
        'dir',
        !prev ? 'new' : prevSubtree === node.subtree ? 'unchanged' : 'modified',
        started,
        addedBefore,
      );
      nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  private async saveTree(nodes: Node[]): Promise<string> {
    const data = encodeTree(sortNodes(nodes));
    const r = await this.repo.saveBlob('tree', data);
    if (!r.known) this.addedPlain += data.length;
    return r.id;
  }

  private item(snPath: string, type: BackupItem['type'], action: BackupItem['action'], started: number, addedBefore: number): void {
    this.opts.onItem?.({ path: snPath, type, action, seconds: (Date.now() - started) / 1000, added: this.addedPlain - addedBefore });
  }

  private targetDeviceOf(p: Buffer): bigint | undefined {
    if (!this.opts.excludes?.oneFileSystem) return undefined;
    try {
      return this.fs.lstat(p).dev;
    } catch {
      return undefined;
    }
  }

  /** Save one file-system entry; null when it could not be read (a warning is recorded). */
  private async saveItem(name: Uint8Array, p: Buffer, prev: Node | undefined, snItem: string): Promise<Node | null> {
    const started = Date.now();
    const addedBefore = this.addedPlain;
    let st;
    try {
      st = this.fs.lstat(p);
    } catch (err) {
      this.warn(p, err);
      return null;
    }
    const type = nodeTypeOf(st);
    if (!type || type === 'socket') return null; // restic 0.14 skips sockets
    if (this.excluder.active && this.excluder.excluded(p, st, this.targetDevice)) return null;
    // prev.name has the same bytes (found by them); reusing it lets the encoder reuse its JSON.
    const node = nodeFromStat(prev ? prev.name : name, st, type);
    try {
      switch (type) {
        case 'file': {
          if (prev && this.unchanged(prev, node)) {
            node.content = prev.content;
            this.stats.filesUnmodified++;
            this.stats.totalFilesProcessed++;
            this.stats.totalBytesProcessed += node.size ?? 0;
            this.item(snItem.slice(0, -1), 'file', 'unchanged', started, addedBefore);
            return node;
          }
          const saved = await this.saveFile(node, p, !!prev);
          this.item(snItem.slice(0, -1), 'file', prev ? 'modified' : 'new', started, addedBefore);
          return saved;
        }
        case 'dir': {
          const parentSubtree = prev?.type === 'dir' ? prev.subtree : undefined;
          node.subtree = await this.saveDir(p, parentSubtree, snItem);
          const action = !prev ? 'new' : parentSubtree === node.subtree ? 'unchanged' : 'modified';
          this.stats[action === 'new' ? 'dirsNew' : action === 'unchanged' ? 'dirsUnmodified' : 'dirsChanged']++;
          this.item(snItem, 'dir', action, started, addedBefore);
          return node;
        }
        case 'symlink':
          node.linktarget = this.fs.readlink(p);
          return node;
        default:
          return node;
      }
    } catch (err) {
      this.warn(p, err);
      return null;
    }
  }

  /**
   * restic 0.14's fileChanged: a file whose type, mtime, ctime, size and inode match the
   * parent's node keeps its content list without being read, if all its blobs are indexed.
   */
  private unchanged(prev: Node, node: Node): boolean {
    return (
      prev.type === 'file' &&
      prev.mtime === node.mtime &&
      prev.ctime === node.ctime &&
      // size and inode are omitted from the JSON when 0
      (prev.size ?? 0) === (node.size ?? 0) &&
      (prev.inode ?? 0n) === (node.inode ?? 0n) &&
      prev.content !== null &&
      prev.content.every((id) => this.repo.index.has('data', id))
    );
  }

  private async saveDir(p: Buffer, parentTree: string | undefined, snPath: string): Promise<string> {
    const nodes: Node[] = [];
    const names = this.fs.readdir(p);
    const previous = await this.parentNodes(parentTree);
    const verbose = this.opts.onItem !== undefined;
    for (const name of names) {
      const child = Buffer.allocUnsafe(p.length + 1 + name.length);
      child.set(p, 0);
      child[p.length] = 0x2f; // '/'
      child.set(name, p.length + 1);
      // snapshot paths are only for onItem: skip the per-entry string work without it
      const node = await this.saveItem(name, child, previous.get(name.toString('latin1')), verbose ? snPath + name.toString() + '/' : '');
      if (node) nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  private progress(current?: Buffer): void {
    if (!this.opts.onProgress) return;
    const now = Date.now();
    if (now - this.lastProgress < (this.opts.progressInterval ?? 1000)) return;
    this.lastProgress = now;
    this.opts.onProgress({
      secondsElapsed: (now - this.started) / 1000,
      filesDone: this.stats.totalFilesProcessed,
      bytesDone: this.stats.totalBytesProcessed,
      currentFile: current?.toString(),
    });
  }

  /**
   * Chunk and store a file; times come from fstat of the open file, the size is what was read
   * (as restic records it), so a file that grows or shrinks meanwhile restores as saved.
   */
  private async saveFile(node: Node, p: Buffer, changed = false): Promise<Node> {
    this.progress(p);
    const fd = this.fs.open(p);
    try {
      const st = this.fs.fstat(fd);
      const fresh = nodeFromStat(node.name, st, 'file');
      const before = this.stats.totalBytesProcessed;
      fresh.content = await this.saveContent(fd, Number(st.size));
      const saved = this.stats.totalBytesProcessed - before;
      if (saved !== Number(st.size)) this.fileChanged(fresh, p, Number(st.size), saved);
      if (changed) this.stats.filesChanged++;
      else this.stats.filesNew++;
      this.stats.totalFilesProcessed++;
      return fresh;
    } finally {
      this.fs.close(fd);
    }
  }

  private fileChanged(node: Node, p: Buffer, expected: number, saved: number): void {
    node.size = saved;
    const c = { path: p.toString(), expected, saved };
    this.changed.push(c);
    this.opts.onFileChanged?.(c);
  }

  private async saveContent(fd: number, size: number): Promise<string[]> {
    const window = await this.repo.openBlobWindow(size);
    if (window) {
      try {
        return await this.saveContentInWindow(fd, window);
      } finally {
        this.repo.closeBlobWindow(window);
      }
    }
    const buffer = (this.buf ??= Buffer.allocUnsafe(READ_BUFFER_SIZE));
    const ids: string[] = [];
    let pos = 0;
    const read = (b: Uint8Array, off: number, len: number): number => {
      const n = this.fs.read(fd, b, off, len, pos);
      pos += n;
      this.stats.totalBytesProcessed += n;
      return n;
    };
    // Each chunk is a view into `buffer`; saveBlob has copied it once it resolves.
    for (const chunk of chunkReadSync(read, this.repo.config.chunkerPolynomial, { buffer })) {
      ids.push(await this.saveChunk(chunk.data));
    }
    return ids;
  }

  /**
   * The same chunks as saveContent's buffer loop, but the file is read straight into the
   * workers' ring, chunked and hashed there; new blobs are encoded from where they were read.
   */
  private async saveContentInWindow(fd: number, w: BlobWindow): Promise<string[]> {
    const c = new Chunker(this.repo.config.chunkerPolynomial);
    const ids: Array<string | Promise<string>> = [];
    let pos = 0;
    for (;;) {
      if (w.limit - w.end < WINDOW_MIN_READ) await this.repo.growBlobWindow(w, WINDOW_MIN_READ);
      const n = this.fs.read(fd, w.bytes, w.end, Math.min(w.limit - w.end, WINDOW_MAX_READ), pos);
      if (n <= 0) break;
      pos += n;
      this.stats.totalBytesProcessed += n;
      const from = w.end;
      this.repo.fillBlobWindow(w, n);
      for (let cut = c.next(w.bytes, from, w.end); cut >= 0; cut = c.next(w.bytes, w.start, w.end)) {
        ids.push((await this.saveWindowChunk(w, cut - w.start)).id);
      }
    }
    if (c.flush() > 0) ids.push((await this.saveWindowChunk(w, w.end - w.start)).id);
    return Promise.all(ids);
  }

  /** The chunk's ID, or for a long chunk a promise of it (hashed by a worker). */
  private async saveWindowChunk(w: BlobWindow, len: number): Promise<{ id: string | Promise<string> }> {
    if (len >= DEFER_HASH_MIN && this.repo.workersHaveSpareTime()) {
      const { result } = await this.repo.deferWindowBlob(w, len);
      const id = result.then((r) => {
        if (!r.known) this.addedPlain += len;
        return r.id;
      });
      // Observed at once so a failure never counts as unhandled; Promise.all reports it.
      id.catch(() => undefined);
      return { id };
    }
    const r = await this.repo.saveWindowBlob(w, len);
    if (!r.known) this.addedPlain += len;
    return { id: r.id };
  }

  private async saveChunk(data: Uint8Array): Promise<string> {
    const r = await this.repo.saveBlob('data', data);
    if (!r.known) this.addedPlain += data.length;
    return r.id;
  }
}

export async function backup(repo: Repository, targets: string[], opts: BackupOptions = {}): Promise<BackupResult> {
  return new Archiver(repo, opts).run(targets);
}
