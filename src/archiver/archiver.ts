/**
 * Backup of files and directories into a snapshot. Walks the targets depth first,
 * chunks file contents with the repository's polynomial, stores new blobs, writes one
 * tree per directory and finally the snapshot.
 */
import os from 'node:os';
import path from 'node:path';
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';
import { checkArg, isFatal, UsageError } from '../errors.js';
import type { BlobWindow } from '../parallel/blob-pool.js';
import type { Node } from '../format/node.js';
import type { Snapshot, SnapshotSummary } from '../format/snapshot.js';
import { encodeNode, encodeTree, sortNodes } from '../format/tree.js';
import { nowGoTime } from '../go/time.js';
import { bstr } from '../go/bytestring.js';
import { safeUsername } from '../format/key.js';
import { Chunker, chunkReadSync } from '../chunker/index.js';
import { type ArchiverFs, fsRelativeTo, nodeFs } from './fs.js';
import { nodeFromStat, nodeTypeOf } from './node-from-stat.js';
import { type TargetTree, buildTargetTree, nameBytes } from './targets.js';
import { type ExcludeOptions, Excluder } from './exclude.js';
import { BackupScanner, type ScanStats } from './scanner.js';
import { RateEstimator } from './rate.js';

/** Options of backup(): snapshot metadata, parent, excludes, progress, lock and signal. */
export interface BackupOptions extends OperationOptions {
  hostname?: string;
  tags?: string[];
  /** Snapshot time (Go RFC3339Nano); now by default. */
  time?: string;
  fs?: ArchiverFs;
  /** Directory relative targets are taken from (default: the process's working directory). */
  cwd?: string;
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
  /**
   * Progress, every `progressInterval` ms (default 100, restic's 10 per second) while the
   * backup runs. With it a scanner walks the targets ahead (as restic's does) for the totals.
   */
  onProgress?: (p: BackupProgress) => void;
  progressInterval?: number;
  /** restic's --no-scan: no scanner, so progress has no totals. */
  noScan?: boolean;
  /** The scanner has counted everything to back up (restic's "scan finished"). */
  onScanFinished?: (s: ScanStats, seconds: number) => void;
  programVersion?: string;
  /** When the backup started (Go RFC3339Nano), for the snapshot's summary; default: when run() starts. */
  backupStart?: string;
  /** Each file and directory once it is saved (restic's verbose "new/unchanged/modified" lines). */
  onItem?: (item: BackupItem) => void;
  /** restic's --dry-run: read and chunk everything, count what would be added, write nothing. */
  dryRun?: boolean;
  /** restic's --with-atime: store each item's atime (default: atime = mtime, as restic). */
  withAtime?: boolean;
  /** restic's --ignore-ctime: a changed ctime alone does not make a file re-read. */
  ignoreCtime?: boolean;
  /** restic's --ignore-inode (implies ignoreCtime): a changed inode alone does not make a file re-read. */
  ignoreInode?: boolean;
  /** restic's --skip-if-unchanged: no snapshot when the tree equals the parent snapshot's. */
  skipIfUnchanged?: boolean;
  /** The parent snapshot chosen (undefined: none), once the index and snapshots are read. */
  onParent?: (id: string | undefined) => void;
}

/** A file or directory backup() saved (BackupOptions.onItem). */
export interface BackupItem {
  /** Path inside the snapshot; directories end in "/". */
  path: string;
  type: 'file' | 'dir';
  action: 'new' | 'unchanged' | 'modified';
  seconds: number;
  /** Plaintext bytes of new blobs (data and trees) this item added, a directory's including its contents'. */
  added: number;
  /** restic's ItemStats: new data blobs of a file (plaintext, and as stored), a directory's own new tree blob. */
  dataSize: number;
  dataSizeInRepo: number;
  treeSize: number;
  treeSizeInRepo: number;
}

/** A file that could not be read; the backup continued without it. */
export interface BackupWarning {
  path: string;
  message: string;
}

/** A file whose size changed while it was read (restic's "expected N bytes, saved M bytes" warning). */
export interface FileChanged {
  path: string;
  /** Size from fstat when the file was opened. */
  expected: number;
  /** Bytes actually read and saved: the size recorded in the snapshot. */
  saved: number;
}

/** restic's backup status: what is done, the scanner's totals so far, the estimated time left. */
export interface BackupProgress {
  secondsElapsed: number;
  filesDone: number;
  bytesDone: number;
  /** The file being read, if any (also the only entry of currentFiles). */
  currentFile?: string;
  currentFiles: string[];
  totalFiles: number;
  totalDirs: number;
  totalBytes: number;
  /** Whether the totals are final (the scanner is done). */
  scanFinished: boolean;
  /** bytesDone / totalBytes, 0 without a total (restic's percent_done, a fraction). */
  percentDone: number;
  /** Estimated from the recent rate once the scan is finished; 0 when unknown or too slow (< 1 KiB/s). */
  secondsRemaining: number;
  errorCount: number;
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

/** What backup() wrote: the snapshot, its ID and statistics. */
export interface BackupResult {
  /** The new snapshot's ID; '' when skipIfUnchanged skipped it. Under dryRun, the ID it would have had. */
  snapshotId: string;
  /** True when skipIfUnchanged found the tree equal to the parent's and saved no snapshot. */
  skipped?: boolean;
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
/** IV and MAC of an encrypted blob: its stored size when a worker encodes it uncompressed. */
const CRYPTO_OVERHEAD = 32;

/** A tree blob as saved: its ID and, when it was new, its plaintext and stored sizes. */
interface SavedTree {
  id: string;
  plain: number;
  repo: number;
}

/** Counters at an item's start, to tell what the item added. */
interface ItemMark {
  started: number;
  added: number;
  data: number;
  dataRepo: number;
}

export class Archiver {
  private readonly fs: ArchiverFs;
  /** Read buffer, allocated on first use: an unchanged re-backup never reads a file. */
  private buf: Buffer | null = null;
  private readonly excluder: Excluder;
  /** Device of the target being walked, for --one-file-system. */
  private targetDevice: bigint | undefined;
  private readonly started = Date.now();
  private lastProgress = 0;
  private scanner: BackupScanner | undefined;
  private readonly rate = new RateEstimator(Date.now());
  private rateBytes = 0;
  /** The file being read (fs path), for progress. */
  private current: Buffer | undefined;
  /** Plaintext bytes of blobs that were new to the repository. */
  private addedPlain = 0;
  /** New data blobs: plaintext bytes and stored bytes (exact in-process, else without compression). */
  private dataPlain = 0;
  private dataRepo = 0;
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
    this.fs = opts.cwd ? fsRelativeTo(opts.fs ?? nodeFs, opts.cwd) : (opts.fs ?? nodeFs);
    this.excluder = new Excluder(this.fs, opts.excludes);
  }

  private warn(p: Buffer | string, err: unknown): void {
    // a backend that is down or a lost upload ends the backup, it is no per-file problem
    if (isFatal(err)) throw err;
    const w = { path: p.toString(), message: (err as Error)?.message ?? String(err) };
    this.warnings.push(w);
    this.opts.onWarning?.(w);
  }

  /** Back up `targets` (files or directories) and save a snapshot. */
  async run(targets: string[]): Promise<BackupResult> {
    if (!targets.length) throw new UsageError('nothing to back up');
    if (this.opts.dryRun) this.repo.setDryRun();
    const backupStart = this.opts.backupStart ?? nowGoTime();
    const time = this.opts.time ?? backupStart;
    const hostname = this.opts.hostname ?? os.hostname();
    const paths = targets.map((t) => (this.opts.cwd ? path.resolve(this.opts.cwd, t) : path.resolve(t)));
    // the index and snapshot listings concurrently: each is a round trip to a remote store
    const parentP = this.findParent(hostname, paths, time);
    parentP.catch(() => undefined); // awaited below, after the index's own error
    await this.repo.loadIndex();
    const before = { ...this.repo.added };
    const parent = await parentP;
    this.opts.onParent?.(parent?.id);
    const tt = buildTargetTree(this.fs, targets);
    const stopProgress = this.startProgress(tt);
    let tree: string;
    try {
      tree = (await this.saveTargetTree(tt, parent?.snapshot.tree ?? undefined)).id;
      await this.repo.flush();
    } finally {
      stopProgress();
    }
    this.opts.signal?.throwIfAborted();
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
      summary: snapshotSummary(this.stats, backupStart, nowGoTime()),
    };
    if (this.opts.skipIfUnchanged && parent && parent.snapshot.tree === tree)
      return { snapshotId: '', skipped: true, snapshot, stats: this.stats, warnings: this.warnings, changed: this.changed };
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

  private async saveTargetTree(t: TargetTree, parentTree?: string, snPath = '/'): Promise<SavedTree> {
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
        node = nodeFromStat(name, st, 'dir', this.opts.withAtime);
      } catch (err) {
        this.warn(meta, err);
        continue;
      }
      const mark = this.mark();
      const prevSubtree = prev?.type === 'dir' ? prev.subtree : undefined;
      const saved = await this.saveTargetTree(child, prevSubtree, snPath + name.toString() + '/');
      node.subtree = saved.id;
      // restic counts the targets' parent directories in dirs_new/changed/unmodified too
      this.dirDone(snPath + name.toString() + '/', prev, node, mark, saved);
      nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  private async saveTree(nodes: Node[]): Promise<SavedTree> {
    const data = encodeTree(sortNodes(nodes));
    const r = await this.repo.saveBlob('tree', data);
    if (r.known) return { id: r.id, plain: 0, repo: 0 };
    this.addedPlain += data.length;
    return { id: r.id, plain: data.length, repo: r.stored ?? data.length + CRYPTO_OVERHEAD };
  }

  private mark(): ItemMark {
    return { started: Date.now(), added: this.addedPlain, data: this.dataPlain, dataRepo: this.dataRepo };
  }

  /** A directory is saved: counted as restic does (unchanged only when its whole node is). */
  private dirDone(snPath: string, prev: Node | undefined, node: Node, mark: ItemMark, tree: SavedTree): void {
    const action = !prev ? 'new' : encodeNode(prev) === encodeNode(node) ? 'unchanged' : 'modified';
    this.stats[action === 'new' ? 'dirsNew' : action === 'unchanged' ? 'dirsUnmodified' : 'dirsChanged']++;
    this.item(snPath, 'dir', action, mark, tree);
  }

  private item(snPath: string, type: BackupItem['type'], action: BackupItem['action'], mark: ItemMark, tree?: SavedTree): void {
    if (!this.opts.onItem) return;
    this.opts.onItem({
      path: snPath,
      type,
      action,
      seconds: (Date.now() - mark.started) / 1000,
      added: this.addedPlain - mark.added,
      dataSize: type === 'file' ? this.dataPlain - mark.data : 0,
      dataSizeInRepo: type === 'file' ? this.dataRepo - mark.dataRepo : 0,
      treeSize: tree?.plain ?? 0,
      treeSizeInRepo: tree?.repo ?? 0,
    });
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
    this.opts.signal?.throwIfAborted();
    const mark = this.mark();
    this.progress();
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
    const node = nodeFromStat(prev ? prev.name : name, st, type, this.opts.withAtime);
    try {
      switch (type) {
        case 'file': {
          if (prev && this.unchanged(prev, node)) {
            node.content = prev.content;
            this.stats.filesUnmodified++;
            this.stats.totalFilesProcessed++;
            this.stats.totalBytesProcessed += node.size ?? 0;
            this.item(snItem.slice(0, -1), 'file', 'unchanged', mark);
            return node;
          }
          const saved = await this.saveFile(node, p, !!prev);
          this.item(snItem.slice(0, -1), 'file', prev ? 'modified' : 'new', mark);
          return saved;
        }
        case 'dir': {
          const parentSubtree = prev?.type === 'dir' ? prev.subtree : undefined;
          const saved = await this.saveDir(p, parentSubtree, snItem);
          node.subtree = saved.id;
          this.dirDone(snItem, prev, node, mark, saved);
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
   * restic's fileChanged: a file whose type, mtime, ctime, size and inode match the
   * parent's node keeps its content list without being read, if all its blobs are indexed.
   * --ignore-ctime leaves out the ctime, --ignore-inode the inode and the ctime.
   */
  private unchanged(prev: Node, node: Node): boolean {
    const ignoreInode = !!this.opts.ignoreInode;
    const ignoreCtime = ignoreInode || !!this.opts.ignoreCtime;
    return (
      prev.type === 'file' &&
      prev.mtime === node.mtime &&
      (ignoreCtime || prev.ctime === node.ctime) &&
      // size and inode are omitted from the JSON when 0
      (prev.size ?? 0) === (node.size ?? 0) &&
      (ignoreInode || (prev.inode ?? 0n) === (node.inode ?? 0n)) &&
      prev.content !== null &&
      prev.content.every((id) => this.repo.index.has('data', id))
    );
  }

  private async saveDir(p: Buffer, parentTree: string | undefined, snPath: string): Promise<SavedTree> {
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

  /** With onProgress: the scanner and a timer for the quiet moments; returns their stop. */
  private startProgress(tt: TargetTree): () => void {
    if (!this.opts.onProgress) return () => undefined;
    const scanner = this.opts.noScan
      ? undefined
      : new BackupScanner(this.fs, this.excluder, !!this.opts.excludes?.oneFileSystem, this.opts.onScanFinished);
    this.scanner = scanner;
    if (scanner) void scanner.start(tt);
    const timer = setInterval(() => this.progress(), this.opts.progressInterval ?? 100);
    timer.unref();
    return () => {
      clearInterval(timer);
      scanner?.stop();
    };
  }

  /** Report progress if the interval has passed (called often: per entry, per read, by a timer). */
  private progress(): void {
    if (!this.opts.onProgress) return;
    const now = Date.now();
    const interval = this.opts.progressInterval ?? 100;
    if (now - this.lastProgress < interval) return;
    this.lastProgress = now;
    // the scanner also gets a share of this thread here: the archiver may not yield for a while
    this.scanner?.slice(now + Math.min(30, interval / 3));
    const bytesDone = this.stats.totalBytesProcessed;
    this.rate.record(now, bytesDone - this.rateBytes);
    this.rateBytes = bytesDone;
    const scan = this.scanner?.stats ?? { files: 0, dirs: 0, others: 0, bytes: 0 };
    const scanFinished = !!this.scanner?.done;
    const rate = this.rate.rate(now);
    const current = this.current && snapshotPathOf(this.current.toString());
    this.opts.onProgress({
      secondsElapsed: (now - this.started) / 1000,
      filesDone: this.stats.totalFilesProcessed,
      bytesDone,
      currentFile: current,
      currentFiles: current ? [current] : [],
      totalFiles: scan.files,
      totalDirs: scan.dirs,
      totalBytes: scan.bytes,
      scanFinished,
      percentDone: scan.bytes > 0 ? bytesDone / scan.bytes : 0,
      secondsRemaining: scanFinished && rate > 1024 ? Math.max(0, Math.floor((scan.bytes - bytesDone) / rate)) : 0,
      errorCount: this.warnings.length,
    });
  }

  /**
   * Chunk and store a file; times come from fstat of the open file, the size is what was read
   * (as restic records it), so a file that grows or shrinks meanwhile restores as saved.
   */
  private async saveFile(node: Node, p: Buffer, changed = false): Promise<Node> {
    this.current = p;
    this.progress();
    const fd = this.fs.open(p);
    try {
      const st = this.fs.fstat(fd);
      const fresh = nodeFromStat(node.name, st, 'file', this.opts.withAtime);
      const before = this.stats.totalBytesProcessed;
      fresh.content = await this.saveContent(fd, Number(st.size));
      const saved = this.stats.totalBytesProcessed - before;
      if (saved !== Number(st.size)) this.fileChanged(fresh, p, Number(st.size), saved);
      if (changed) this.stats.filesChanged++;
      else this.stats.filesNew++;
      this.stats.totalFilesProcessed++;
      return fresh;
    } finally {
      this.current = undefined;
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
      this.progress();
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
      this.opts.signal?.throwIfAborted();
      if (w.limit - w.end < WINDOW_MIN_READ) await this.repo.growBlobWindow(w, WINDOW_MIN_READ);
      const n = this.fs.read(fd, w.bytes, w.end, Math.min(w.limit - w.end, WINDOW_MAX_READ), pos);
      if (n <= 0) break;
      pos += n;
      this.stats.totalBytesProcessed += n;
      this.progress();
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
        if (!r.known) this.countData(len, r.stored);
        return r.id;
      });
      // Observed at once so a failure never counts as unhandled; Promise.all reports it.
      id.catch(() => undefined);
      return { id };
    }
    const r = await this.repo.saveWindowBlob(w, len);
    if (!r.known) this.countData(len, r.stored);
    return { id: r.id };
  }

  private async saveChunk(data: Uint8Array): Promise<string> {
    this.opts.signal?.throwIfAborted();
    const r = await this.repo.saveBlob('data', data);
    if (!r.known) this.countData(data.length, r.stored);
    return r.id;
  }

  private countData(plain: number, stored: number | undefined): void {
    this.addedPlain += plain;
    this.dataPlain += plain;
    this.dataRepo += stored ?? plain + CRYPTO_OVERHEAD;
  }
}

/** The path a file gets in the snapshot (restic's current_files): relative targets start at "/". */
function snapshotPathOf(p: string): string {
  return path.posix.isAbsolute(p) ? p : '/' + path.posix.normalize(p).replace(/^(\.\.\/)+/, '');
}

/** restic 0.17+'s snapshot summary from a backup's statistics. */
export function snapshotSummary(s: BackupStats, backupStart: string, backupEnd: string): SnapshotSummary {
  return {
    backupStart,
    backupEnd,
    filesNew: s.filesNew,
    filesChanged: s.filesChanged,
    filesUnmodified: s.filesUnmodified,
    dirsNew: s.dirsNew,
    dirsChanged: s.dirsChanged,
    dirsUnmodified: s.dirsUnmodified,
    dataBlobs: s.dataBlobs,
    treeBlobs: s.treeBlobs,
    dataAdded: s.dataAdded,
    dataAddedPacked: s.dataAddedStored,
    totalFilesProcessed: s.totalFilesProcessed,
    totalBytesProcessed: s.totalBytesProcessed,
  };
}

/**
 * Back up files and directories into a new snapshot, under a shared lock (see OperationOptions).
 *
 * @example
 * ```ts
 * const { snapshotId, stats } = await backup(repo, ['/home/me/docs'], { tags: ['daily'] });
 * ```
 */
export async function backup(repo: Repository, targets: string[], opts: BackupOptions = {}): Promise<BackupResult> {
  checkRepository(repo, 'backup');
  checkArg(Array.isArray(targets) && targets.every((t) => typeof t === 'string'), 'backup', 'targets: an array of paths', targets);
  return repo.runLocked('backup', false, opts, () => new Archiver(repo, opts).run(targets), true);
}
