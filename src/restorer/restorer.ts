/**
 * Restore of a snapshot (or a subtree of it) into a target directory. Every blob is
 * verified on load. Names that could escape the target are refused, nothing is followed
 * through a symlink (existing non-directories in the way are replaced, files are opened
 * with O_NOFOLLOW), and a damaged blob fails only the file that needs it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';
import { checkArg, FormatError, isFatal, NotFoundError } from '../errors.js';
import { mapLimit } from '../parallel/map-limit.js';
import { type BlobLocation, MasterIndex } from '../repository/master-index.js';
import { hashId } from '../format/id.js';
import { OpenPool, discardSpare, prestartOpenPool } from '../parallel/open-pool.js';
import { BufferRing, loadRecycled } from '../parallel/buffer-ring.js';
import { minorGc } from '../parallel/worker-gc.js';
import type { SpanBlob } from '../format/blob-open.js';
import { type FileMeta, type SpanWriteResult, type WriteFile, applyMeta, applyMetaAt, openTarget } from '../parallel/span-write.js';
import type { Node } from '../format/node.js';
import { posixPermFromGo } from '../format/mode.js';
import { parseGoTime } from '../go/time.js';
import { bstr } from '../go/bytestring.js';
import { type Pattern, childMatch, matchList, parsePattern } from '../go/filter.js';
import { type OverwriteBehavior, existingContent, removeUnexpected, shouldOverwrite } from './overwrite.js';
import { PackPrefetch } from './pack-prefetch.js';
import { ReadAhead } from '../parallel/read-ahead.js';
import { runOverlapped } from '../repository/overlapped-lock.js';
import type { Snapshot } from '../format/snapshot.js';

/** Options of restore(): filters, ownership, verification, progress, signal. */
export interface RestoreOptions {
  /** Called for each problem; restoring continues with the next entry. */
  onWarning?: (w: { path: string; message: string }) => void;
  /** Restore ownership (default: when running as root). */
  restoreOwnership?: boolean;
  /** restic --include / --exclude patterns, matched against the path inside the snapshot. */
  include?: string[];
  exclude?: string[];
  /** Re-read every restored file and check it against the snapshot's blob IDs. */
  verify?: boolean;
  /** Progress, at most every `progressInterval` ms (default 1000). */
  onProgress?: (stats: Readonly<RestoreStats>) => void;
  progressInterval?: number;
  /** restic ≥ 0.17's --overwrite: what happens to entries already in the target (default 'always'). */
  overwrite?: OverwriteBehavior;
  /** restic ≥ 0.17's --delete: remove files in the target that the snapshot does not have. */
  delete?: boolean;
  /** restic ≥ 0.17's --dry-run: walk and count (and check existing files), write nothing. */
  dryRun?: boolean;
  /** Each entry as it is done: restic's -vv lines and `verbose_status` messages. */
  onItem?: (item: RestoreItem) => void;
  /** Cancels the restore (AbortedError); files already written stay. */
  signal?: AbortSignal;
  /** Called once the snapshot is found and the lock is held, before anything is written. */
  onStart?: (snapshotId: string, snapshot: Snapshot) => void;
}

/** One entry restore() handled (RestoreOptions.onItem). */
export interface RestoreItem {
  action: 'restored' | 'updated' | 'unchanged' | 'deleted';
  /** Path inside the snapshot (for 'deleted': in the target). */
  path: string;
  /** File size; 0 for directories and other entries. */
  size: number;
  type: 'file' | 'other';
}

/** What restore() restored. */
export interface RestoreStats {
  files: number;
  dirs: number;
  /** Bytes of file content to restore. */
  bytes: number;
  errors: number;
  verified: number;
  /** restic's "files/dirs": every entry to create (files, dirs, links, fifos, devices). */
  nodesTotal: number;
  /** Entries completely restored. */
  nodesDone: number;
  /** File content bytes written so far. */
  bytesWritten: number;
  /** Entries left as they were (--overwrite, or a file whose content already matched), and their bytes. */
  filesSkipped: number;
  bytesSkipped: number;
  /** Entries --delete removed (or would remove). */
  filesDeleted: number;
}

const SEP = Buffer.from('/');

/** A tree entry name that is safe to create inside a directory. */
function isSafeName(name: Uint8Array): boolean {
  if (name.length === 0 || name.includes(0x2f) || name.includes(0)) return false;
  const s = bstr(name);
  return s !== '.' && s !== '..';
}

/** Pack spans in flight during restore: one per worker plus the one being read (fewer under a tight memory budget). */
function packReaders(repo: Repository): number {
  return repo.memory.packsInFlight(restoreWorkers(repo) + 1);
}
/** Files kept open between writes of their blobs; the rest are reopened per write. */
const MAX_OPEN_FILES = 64;

/**
 * A file being restored. It keeps what writing and finishing need, not its tree node: a
 * batch holds tens of thousands of these, and a node's strings and objects would be most of it.
 */
interface FileJob {
  path: Buffer;
  /** Owner, mode and times, applied once the content is written. */
  meta: FileMeta;
  size: number;
  /** Content blob IDs, kept only for --verify. */
  verifyContent: string[] | null;
  /** Blob writes still to do. */
  remaining: number;
  failed: boolean;
  /** Whether the file exists yet: files are created by their first write. */
  created: boolean;
  /** Open descriptor while more writes are expected, else -1. */
  fd: number;
  /** Content written and metadata set (by this thread or a worker). */
  done: boolean;
  /** Span writes in flight on workers that may use `fd`: it is not closed before they end. */
  inflight: number;
  /** For onItem only: the path in the snapshot, and whether a differing file was replaced. */
  item?: { path: string; updated: boolean };
}

interface BlobUse {
  job: FileJob;
  offset: number;
}

/** A blob to restore: where it is read from (located once, when planned) and where it goes. */
interface PlannedBlob {
  loc: BlobLocation;
  uses: BlobUse[];
}

/** Thrown when the target, absent while the walk planned, exists once the lock is held: the restore starts over. */
class TargetAppeared extends Error {}

/** A new directory, or a file whose content is all there is to plan (no hard link, not empty). */
function plansWithoutDisk(node: Node): boolean {
  if (node.type === 'dir') return true;
  return node.type === 'file' && !!node.content?.length && !(node.links && node.links > 1 && node.inode);
}

/** The part of a pack a restore reads: from its first needed blob to the end of its last. */
interface PackSpan {
  packId: string;
  /** The needed blobs, by offset. */
  locs: Array<{ id: string; loc: BlobLocation; uses: BlobUse[] }>;
  start: number;
  length: number;
}

function packSpan(packId: string, blobs: Map<string, PlannedBlob>): PackSpan {
  const locs = [...blobs].map(([id, { loc, uses }]) => ({ id, loc, uses }));
  locs.sort((a, b) => a.loc.offset - b.loc.offset);
  const start = locs[0]!.loc.offset;
  const last = locs[locs.length - 1]!.loc;
  return { packId, locs, start, length: last.offset + last.length - start };
}

/** Bytes of pack spans loaded ahead of the workers (not on a tight memory budget). */
const READ_AHEAD_BYTES = 64 << 20;

interface DirToFinish {
  node: Node;
  path: Buffer;
}

export class Restorer {
  readonly stats: RestoreStats = {
    files: 0,
    dirs: 0,
    bytes: 0,
    errors: 0,
    verified: 0,
    nodesTotal: 0,
    nodesDone: 0,
    bytesWritten: 0,
    filesSkipped: 0,
    bytesSkipped: 0,
    filesDeleted: 0,
  };
  /** restic turns --delete off once it meets an unsafe name, so nothing unexpected is removed. */
  private deleteEnabled: boolean;
  private readonly dryRun: boolean;
  private lastProgress = 0;
  private readonly chown: boolean;
  private readonly includes: Pattern[];
  private readonly excludes: Pattern[];
  /** (device, inode) of restored hard-linked files → where the first one went. */
  private readonly links = new Map<string, Buffer>();
  private readonly dirsToFinish: DirToFinish[] = [];
  /** pack ID → blob ID → its location and where its plaintext goes. */
  private readonly plan = new Map<string, Map<string, PlannedBlob>>();
  private pool: OpenPool | null = null;
  private readonly readers: number;
  private readonly ring: BufferRing;
  /** On a tight memory budget: a young-generation collection after each pack read frees a remote response's chunks at once. */
  private readonly collect: (() => void) | null;
  private openFiles = 0;
  /**
   * Until `gate` settles (a fresh target only): the target does not exist yet and the walk
   * plans without touching the disk; what it would have done meanwhile waits here.
   */
  private deferred: Array<() => void> | null;
  private target: Buffer | null = null;
  /** Blob uses in `plan`: past the budget's batch size the plan is written out before the walk goes on. */
  private plannedUses = 0;

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreOptions = {},
    /** Packs fetched ahead (while the lock settled), taken before reading a pack. */
    private readonly prefetch: PackPrefetch | null = null,
    /** Settles once the target may be written (the lock is held); until then the walk only plans. */
    private gate: Promise<void> | null = null,
  ) {
    this.deferred = gate ? [] : null;
    this.chown = opts.restoreOwnership ?? process.getuid?.() === 0;
    this.includes = (opts.include ?? []).map(parsePattern);
    this.excludes = (opts.exclude ?? []).map(parsePattern);
    this.deleteEnabled = !!opts.delete;
    this.dryRun = !!opts.dryRun;
    this.readers = packReaders(repo);
    this.ring = new BufferRing(this.readers);
    this.collect = repo.memory.tight ? minorGc() : null;
  }

  private progress(): void {
    if (!this.opts.onProgress) return;
    const now = Date.now();
    if (now - this.lastProgress < (this.opts.progressInterval ?? 1000)) return;
    this.lastProgress = now;
    this.opts.onProgress(this.stats);
  }

  private warn(p: Buffer | string, err: unknown): void {
    if (isFatal(err)) throw err; // the repository is gone: no error per remaining file
    this.now(() => this.report(p, err));
  }

  private report(p: Buffer | string, err: unknown): void {
    this.stats.errors++;
    this.opts.onWarning?.({ path: p.toString(), message: (err as Error)?.message ?? String(err) });
  }

  /** Run `fn` now, or once the gate opens when the walk is still only planning. */
  private now(fn: () => void): void {
    if (this.deferred) this.deferred.push(fn);
    else fn();
  }

  /** Whether the target was newly made. */
  private makeTarget(dir: Buffer): boolean {
    return this.dryRun ? !fs.existsSync(dir) : fs.mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined;
  }

  /** Wait for the lock, make the target and do what the walk put off meanwhile. */
  private async openGate(): Promise<void> {
    const gate = this.gate;
    if (!gate) return;
    this.gate = null;
    await gate;
    if (!this.makeTarget(this.target!)) throw new TargetAppeared();
    const queued = this.deferred!;
    this.deferred = null;
    for (const fn of queued) fn();
  }

  /** Restore the contents of tree `treeId` into directory `target` (created if missing). */
  async restoreTree(treeId: string, target: string, location = '/'): Promise<RestoreStats> {
    const dir = (this.target = Buffer.from(path.resolve(target)));
    const created = this.gate ? true : this.makeTarget(dir);
    // Workers (one per core) decode and write the blobs; this thread plans, reads and finishes
    // files. They start up while the trees are walked.
    this.pool = new OpenPool(this.repo.key, restoreWorkers(this.repo), this.repo.memory.holdFreedMemory);
    try {
      await this.restoreDir(treeId, dir, location, created);
      await this.openGate();
      await this.writeContents();
    } finally {
      await this.pool.close();
      this.pool = null;
    }
    this.finishDirs();
    this.opts.signal?.throwIfAborted(); // a cancelled restore never reports success
    return this.stats;
  }

  /**
   * Directory metadata once their content is written, so writing children does not change
   * it: every directory listed has been walked whole and its files' content is written.
   */
  private finishDirs(): void {
    for (const d of this.dryRun ? [] : this.dirsToFinish.reverse()) {
      try {
        this.restoreMetadata(d.node, d.path);
      } catch (err) {
        this.warn(d.path, err);
      }
    }
    this.dirsToFinish.length = 0;
  }

  /** Write out what is planned so far, when it reached the budget's batch size: the plan never holds a whole big snapshot. */
  private async writeBatchIfFull(): Promise<void> {
    if (this.plannedUses < this.repo.memory.restoreBatchBlobs) return;
    await this.openGate();
    await this.writeContents();
    this.finishDirs();
  }

  private selected(snapPath: string, isDir: boolean): { restore: boolean; descend: boolean } {
    if (this.excludes.length && matchList(this.excludes, snapPath)) return { restore: false, descend: false };
    if (!this.includes.length) return { restore: true, descend: true };
    const restore = matchList(this.includes, snapPath);
    const descend = isDir && (restore || this.includes.some((p) => childMatch(p, snapPath)));
    return { restore, descend };
  }

  /** `fresh`: the directory was created by us just now, so nothing in it needs clearing. */
  private async restoreDir(treeId: string, dir: Buffer, location: string, fresh: boolean): Promise<void> {
    const nodes = await this.repo.loadTree(treeId);
    // A tree may repeat a name; a repeated entry must clear what the first one made.
    const seen = fresh ? new Set<string>() : null;
    for (const node of nodes) {
      this.opts.signal?.throwIfAborted();
      const p = Buffer.concat([dir, SEP, node.name]);
      if (!isSafeName(node.name)) {
        this.warn(p, new Error(`refusing to restore unsafe name ${JSON.stringify(Buffer.from(node.name).toString())}`));
        this.deleteEnabled = false;
        continue;
      }
      const snapPath = path.posix.join(location, Buffer.from(node.name).toString());
      const sel = this.selected(snapPath, node.type === 'dir');
      if (!sel.restore && !sel.descend) continue;
      const key = seen ? bstr(node.name) : '';
      const empty = seen !== null && !seen.has(key);
      seen?.add(key);
      // Only a new directory or a new file's content can be planned before the target exists.
      if (this.deferred && !(empty && plansWithoutDisk(node))) await this.openGate();
      try {
        if (node.type === 'dir') {
          const made = this.dryRun ? empty || !isDirectory(p) : this.deferred ? this.mkdirLater(p) : this.ensureDir(p, empty);
          if (sel.restore) {
            this.stats.dirs++;
            this.stats.nodesTotal++;
            this.stats.nodesDone++;
            this.now(() => {
              this.opts.onItem?.({ action: 'restored', path: snapPath, size: 0, type: 'other' });
              this.progress();
            });
          }
          if (node.subtree) await this.restoreDir(node.subtree, p, snapPath, made);
          this.dirsToFinish.push({ node, path: p });
        } else if (sel.restore) {
          await this.restoreNode(node, p, empty, snapPath);
        }
      } catch (err) {
        if (this.opts.signal?.aborted) throw err;
        this.warn(p, err);
      }
    }
    if (this.deleteEnabled && !fresh) this.deleteUnexpected(dir, location, nodes);
  }

  /** --delete: what the target holds here beyond the snapshot's entries goes. */
  private deleteUnexpected(dir: Buffer, location: string, nodes: Node[]): void {
    try {
      const expected = new Set(nodes.map((n) => bstr(n.name)));
      const removed = removeUnexpected(dir, location, expected, (sp) => this.selected(sp, false).restore, this.dryRun);
      for (const p of removed) {
        this.stats.filesDeleted++;
        this.opts.onItem?.({ action: 'deleted', path: p.toString(), size: 0, type: 'other' });
      }
    } catch (err) {
      this.warn(dir, err);
    }
  }

  /**
   * --overwrite and restic's content check for an entry that may already exist. Returns
   * false when the entry is left as it is (counted as skipped; a file with matching
   * content gets its metadata restored).
   */
  private replaceExisting(node: Node, p: Buffer, snapPath: string, hardlink: boolean): { replace: boolean; existed: boolean } {
    const mode = this.opts.overwrite ?? 'always';
    const size = hardlink ? 0 : (node.size ?? 0);
    if (!shouldOverwrite(mode, node, p)) {
      this.stats.filesSkipped++;
      this.stats.bytesSkipped += size;
      return { replace: false, existed: true };
    }
    if (node.type !== 'file' || hardlink) return { replace: true, existed: false };
    const blobSize = (id: string) => {
      const loc = this.repo.index.lookup('data', id)[0];
      return loc ? MasterIndex.plaintextSize(loc) : 0;
    };
    const state = existingContent(node, p, mode === 'if-changed', blobSize);
    if (state !== 'match') return { replace: true, existed: state === 'differs' };
    this.stats.filesSkipped++;
    this.stats.bytesSkipped += size;
    this.opts.onItem?.({ action: 'unchanged', path: snapPath, size, type: 'file' });
    if (!this.dryRun) this.restoreMetadata(node, p);
    return { replace: false, existed: true };
  }

  /** ensureDir() in a new parent, once the gate opens. */
  private mkdirLater(p: Buffer): true {
    this.deferred!.push(() => {
      try {
        fs.mkdirSync(p, { mode: 0o700 });
      } catch (err) {
        this.warn(p, err);
      }
    });
    return true;
  }

  /**
   * A real directory at p: an existing symlink or file there is removed, never followed.
   * Returns whether the directory was newly made.
   */
  private ensureDir(p: Buffer, parentFresh: boolean): boolean {
    if (parentFresh) {
      fs.mkdirSync(p, { mode: 0o700 });
      return true;
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) return false;
    if (st) fs.rmSync(p, { force: true });
    fs.mkdirSync(p, { mode: 0o700 });
    return true;
  }

  /** Remove whatever is at p (not a directory tree) so a new entry can be created. */
  private clear(p: Buffer): void {
    try {
      const st = fs.lstatSync(p);
      if (st.isDirectory()) throw new Error('a directory is in the way');
      fs.unlinkSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async restoreNode(node: Node, p: Buffer, fresh: boolean, snapPath: string): Promise<void> {
    // Only regular files are hard-linked, as in restic: a "file" sharing a symlink's inode
    // would otherwise come out as that symlink.
    const linkKey = node.type === 'file' && node.links && node.links > 1 && node.inode ? `${node.deviceId ?? 0n}:${node.inode}` : undefined;
    const first = linkKey ? this.links.get(linkKey) : undefined;
    let existed = false;
    if (!fresh && node.type !== 'socket') {
      const r = this.replaceExisting(node, p, snapPath, first !== undefined);
      if (!r.replace) {
        if (linkKey && !first) this.links.set(linkKey, p);
        return;
      }
      existed = r.existed;
    }
    this.stats.nodesTotal++;
    if (this.dryRun) return this.countDryRun(node, snapPath, existed, linkKey, p);
    if (!fresh) this.clear(p);
    if (first) {
      fs.linkSync(first, p);
      this.stats.nodesDone++;
      return;
    }
    switch (node.type) {
      case 'file':
        await this.restoreFile(node, p, linkKey !== undefined, this.opts.onItem ? { path: snapPath, updated: existed } : undefined);
        this.stats.files++;
        if (linkKey) this.links.set(linkKey, p);
        return; // metadata once the content is written
      case 'symlink':
        fs.symlinkSync(Buffer.from(node.linktarget ?? new Uint8Array()), p);
        break;
      case 'fifo':
        // Node has no mkfifo/mknod API; the system tools do it without a native addon.
        execFileSync('mkfifo', ['-m', '600', p.toString()]);
        break;
      case 'dev':
      case 'chardev': {
        const dev = node.device ?? 0n;
        const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
        const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
        execFileSync('mknod', ['-m', '600', p.toString(), node.type === 'dev' ? 'b' : 'c', String(major), String(minor)]);
        break;
      }
      case 'socket':
        this.stats.nodesTotal--;
        return; // sockets cannot be restored meaningfully (restic skips them too)
      default:
        throw new Error(`unsupported node type ${node.type}`);
    }
    this.restoreMetadata(node, p);
    this.stats.nodesDone++;
    this.opts.onItem?.({ action: 'restored', path: snapPath, size: 0, type: 'other' });
    this.progress();
  }

  /** --dry-run: what restoring the entry would do, counted as done at once (as restic does). */
  private countDryRun(node: Node, snapPath: string, existed: boolean, linkKey: string | undefined, p: Buffer): void {
    const first = linkKey !== undefined && this.links.has(linkKey);
    if (linkKey && !first) this.links.set(linkKey, p);
    this.stats.nodesDone++;
    if (node.type !== 'file' || first) {
      this.opts.onItem?.({ action: 'restored', path: snapPath, size: 0, type: 'other' });
      return;
    }
    const size = node.size ?? 0;
    this.stats.files++;
    this.stats.bytes += size;
    this.stats.bytesWritten += size;
    this.opts.onItem?.({ action: existed ? 'updated' : 'restored', path: snapPath, size, type: 'file' });
  }

  /**
   * Plan the file's content, written pack by pack in writeContents(). The file is created
   * by its first write, or now when it is empty or other hard links must point at it.
   */
  private async restoreFile(node: Node, p: Buffer, linked: boolean, item?: FileJob['item']): Promise<void> {
    const content = node.content ?? [];
    const job: FileJob = {
      path: p,
      meta: this.fileMeta(node),
      size: node.size ?? 0,
      verifyContent: this.opts.verify ? content : null,
      remaining: content.length,
      failed: false,
      created: false,
      fd: -1,
      done: false,
      inflight: 0,
      item,
    };
    if (linked || content.length === 0) {
      fs.closeSync(this.openJob(job));
    }
    let offset = 0;
    for (const id of content) {
      const loc = this.repo.index.lookup('data', id)[0];
      if (!loc) {
        this.failFile(job, new Error(`data blob ${id.slice(0, 16)} is not in the index`));
        return;
      }
      let pack = this.plan.get(loc.packId);
      if (!pack) this.plan.set(loc.packId, (pack = new Map()));
      let planned = pack.get(id);
      if (!planned) pack.set(id, (planned = { loc, uses: [] }));
      planned.uses.push({ job, offset });
      offset += MasterIndex.plaintextSize(loc);
    }
    this.plannedUses += content.length;
    this.stats.bytes += offset;
    if (job.remaining === 0) this.finishFile(job);
    await this.writeBatchIfFull();
  }

  private failFile(job: FileJob, err: unknown): void {
    if (job.failed) return;
    job.failed = true;
    if (job.inflight === 0) this.closeJob(job);
    this.warn(job.path, err);
  }

  private finishFile(job: FileJob): void {
    job.done = true;
    try {
      if (job.verifyContent) this.verifyFile(job.verifyContent, job.size, job.path);
      if (job.fd >= 0) applyMeta(job.fd, job.meta);
      else applyMetaAt(job.path, job.meta);
      this.stats.nodesDone++;
      this.fileItem(job);
    } catch (err) {
      this.failFile(job, err);
    } finally {
      this.closeJob(job);
    }
  }

  private fileItem(job: FileJob): void {
    if (job.item)
      this.opts.onItem?.({
        action: job.item.updated ? 'updated' : 'restored',
        path: job.item.path,
        size: job.size,
        type: 'file',
      });
  }

  /** Open the file for writing, creating it exclusively the first time; never through a symlink. */
  private openJob(job: FileJob): number {
    const fd = openTarget(job.path, job.created);
    job.created = true;
    return fd;
  }

  private closeJob(job: FileJob): void {
    if (job.fd < 0) return;
    fs.closeSync(job.fd);
    job.fd = -1;
    this.openFiles--;
  }

  /** Write one blob's plaintext into the file; the descriptor stays open while more writes follow. */
  private writeBlob(job: FileJob, plain: Uint8Array, offset: number): void {
    let fd = job.fd;
    if (fd < 0) fd = this.openJob(job);
    try {
      fs.writeSync(fd, plain, 0, plain.length, offset);
      this.stats.bytesWritten += plain.length;
    } catch (err) {
      if (job.fd < 0) fs.closeSync(fd);
      throw err;
    }
    if (job.fd < 0) {
      if (job.remaining > 1 && this.openFiles >= MAX_OPEN_FILES) fs.closeSync(fd);
      else {
        job.fd = fd;
        this.openFiles++;
      }
    }
  }

  /**
   * Read each needed pack once (the span covering its needed blobs), verify and write
   * every blob to all the places that need it. Packs are processed a few at a time and
   * loaded ahead of their turn as far as the memory budget allows.
   */
  private async writeContents(): Promise<void> {
    const spans = [...this.plan].map(([packId, blobs]) => packSpan(packId, blobs));
    this.plan.clear();
    this.plannedUses = 0;
    const ahead = new ReadAhead(
      spans.map((s) => s.length),
      (i) => this.loadSpan(spans[i]!),
      this.repo.memory.tight ? 0 : READ_AHEAD_BYTES,
    );
    await mapLimit(
      spans.map((_, i) => i),
      this.readers,
      async (i) => {
        try {
          await this.restorePack(spans[i]!, ahead.take(i));
        } finally {
          ahead.release(i);
        }
      },
    );
  }

  private async loadSpan({ packId, start, length }: PackSpan): Promise<Uint8Array> {
    const span =
      (await this.prefetch?.take(packId, start, length)) ??
      (await loadRecycled(this.repo.backend, { type: 'pack', name: packId }, start, length, this.ring));
    this.collect?.();
    return span;
  }

  private async restorePack({ packId, locs, start }: PackSpan, loading: Promise<Uint8Array>): Promise<void> {
    this.opts.signal?.throwIfAborted();
    let span: Uint8Array;
    try {
      span = await loading;
    } catch {
      // Blob-by-blob loads instead, which also try other copies.
      for (const { id, uses } of locs) await this.restoreBlobHere(id, uses, null);
      return;
    }
    const spanBlobs: SpanBlob[] = locs.map(({ id, loc }) => ({
      id,
      offset: loc.offset - start,
      length: loc.length,
      uncompressedLength: loc.uncompressedLength,
    }));
    const { jobs, files, targets } = this.planSpan(locs);
    let res: SpanWriteResult;
    try {
      res = await this.pool!.write({ packId, span, blobs: spanBlobs, targets, files }, this.ring.giveBackFor(span));
    } catch (err) {
      const msg = (err as Error).message;
      res = {
        blobErrors: locs.map(() => msg),
        fileErrors: files.map(() => null),
        created: files.map(() => false),
        finished: files.map(() => false),
      };
    }
    this.recordSpanWrites(jobs, files, locs, res);
    for (let i = 0; i < locs.length; i++) {
      const err = res.blobErrors[i];
      if (err != null) await this.restoreBlobHere(locs[i]!.id, locs[i]!.uses, err);
    }
    for (let f = 0; f < jobs.length; f++) {
      const job = jobs[f]!;
      if (job.failed) {
        if (job.inflight === 0) this.closeJob(job);
      } else if (job.done) continue;
      else if (res.finished[f]) {
        job.done = true;
        this.stats.nodesDone++;
        this.fileItem(job);
      } else if (job.remaining === 0) this.finishFile(job);
      else if (job.fd >= 0 && job.inflight === 0 && this.openFiles > MAX_OPEN_FILES) this.closeJob(job);
    }
    this.progress();
  }

  /** Take in a span's write results: file errors and created files, then the blobs written to the files still standing. */
  private recordSpanWrites(
    jobs: FileJob[],
    files: WriteFile[],
    locs: Array<{ loc: BlobLocation; uses: BlobUse[] }>,
    res: SpanWriteResult,
  ): void {
    for (let f = 0; f < jobs.length; f++) {
      const job = jobs[f]!;
      job.inflight--;
      if (files[f]!.path && res.created[f]) job.created = true;
      const err = res.fileErrors[f];
      if (err != null) this.failFile(job, new Error(err));
    }
    // Every job still standing was planned into this span (planSpan skips only failed ones).
    for (let i = 0; i < locs.length; i++) {
      if (res.blobErrors[i] !== null) continue;
      const size = MasterIndex.plaintextSize(locs[i]!.loc);
      for (const u of locs[i]!.uses) {
        if (u.job.failed) continue;
        this.stats.bytesWritten += size;
        u.job.remaining--;
      }
    }
  }

  /**
   * The files a span writes: a file whose remaining blobs all come from this span is opened,
   * written, finished and closed by the worker; any other is written through a descriptor
   * held open here until its last blob is in.
   */
  private planSpan(locs: Array<{ uses: BlobUse[] }>): { jobs: FileJob[]; files: WriteFile[]; targets: number[][] } {
    const count = new Map<FileJob, number>();
    for (const l of locs) for (const u of l.uses) if (!u.job.failed) count.set(u.job, (count.get(u.job) ?? 0) + 1);
    const slots = new Map<FileJob, number>();
    const jobs: FileJob[] = [];
    const files: WriteFile[] = [];
    const slotOf = (job: FileJob): number => {
      const known = slots.get(job);
      if (known !== undefined) return known;
      if (job.failed) return -1;
      let file: WriteFile;
      if (job.fd < 0 && count.get(job) === job.remaining) {
        file = { fd: -1, path: job.path, create: !job.created, meta: job.verifyContent ? null : job.meta };
      } else {
        if (job.fd < 0) {
          try {
            job.fd = this.openJob(job);
            this.openFiles++;
          } catch (err) {
            this.failFile(job, err);
            return -1;
          }
        }
        file = { fd: job.fd, path: null, create: false, meta: null };
      }
      job.inflight++;
      slots.set(job, files.length);
      jobs.push(job);
      files.push(file);
      return files.length - 1;
    };
    const targets = locs.map(({ uses }) => {
      const t: number[] = [];
      for (const u of uses) {
        const slot = slotOf(u.job);
        if (slot >= 0) t.push(slot, u.offset);
      }
      return t;
    });
    return { jobs, files, targets };
  }

  /** What restoreFileMetadata applies (here, or on a worker for files it finishes). */
  private fileMeta(node: Node): FileMeta {
    return {
      owner: this.chown ? [node.uid, node.gid] : null,
      mode: node.mode !== undefined ? posixPermFromGo(node.mode) : null,
      atime: toSeconds(node.atime),
      mtime: toSeconds(node.mtime),
    };
  }

  /** Load one blob on this thread (any intact copy) and write it wherever it is needed. */
  private async restoreBlobHere(id: string, uses: BlobUse[], why: string | null): Promise<void> {
    let plain: Uint8Array;
    try {
      plain = await this.repo.loadBlob('data', id);
    } catch (err) {
      for (const u of uses) this.failFile(u.job, why !== null ? new Error(why) : err);
      return;
    }
    for (const u of uses) {
      if (u.job.failed) continue;
      try {
        this.writeBlob(u.job, plain, u.offset);
      } catch (err) {
        this.failFile(u.job, err);
        continue;
      }
      if (--u.job.remaining === 0) this.finishFile(u.job);
    }
    this.progress();
  }

  /** Re-read the file and compare each chunk's SHA-256 with the blob IDs of the snapshot. */
  private verifyFile(content: string[], expectedSize: number, p: Buffer): void {
    const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      // restic's check: the size recorded in the snapshot, then the content blob by blob
      const size = fs.fstatSync(fd).size;
      if (size !== expectedSize) throw new Error(`Invalid file size for ${p.toString()}: expected ${expectedSize}, got ${size}`);
      let pos = 0;
      for (const id of content) {
        const locs = this.repo.index.lookup('data', id);
        const size = locs[0] ? MasterIndex.plaintextSize(locs[0]) : 0;
        const buf = Buffer.allocUnsafe(size);
        const n = fs.readSync(fd, buf, 0, size, pos);
        if (n !== size || hashId(buf) !== id) {
          throw new Error(`verification failed: content at offset ${pos} does not match blob ${id.slice(0, 16)}`);
        }
        pos += size;
      }
      if (fs.fstatSync(fd).size !== pos) throw new Error('verification failed: file size differs');
      this.stats.verified++;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Owner, mode and times by path; a symlink keeps its mode and its own times are set. */
  private restoreMetadata(node: Node, p: Buffer): void {
    const m = this.fileMeta(node);
    if (node.type !== 'symlink') return applyMetaAt(p, m);
    if (m.owner) fs.lchownSync(p, m.owner[0], m.owner[1]);
    fs.lutimesSync(p, m.atime, m.mtime);
  }
}

function isDirectory(p: Buffer): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Seconds with fraction for utimes. libuv keeps whole microseconds only (it truncates the
 * nanoseconds before utimensat), so aim at the middle of the time's microsecond: the double's
 * rounding (~0.1 µs today) then cannot tip it into the previous one, and the restored time is
 * the recorded one cut to the microsecond, exactly. libuv truncates toward zero, so before
 * 1970 the middle lies below the microsecond. Node turns a negative number into "now" but
 * takes a numeric string as it is, so times before 1970 go as strings.
 */
function toSeconds(t: string): number | string {
  const { sec, nsec } = parseGoTime(t);
  const micro = Math.floor(nsec / 1000);
  if (sec >= 0n) return Number(sec) + (micro + 0.5) / 1e6;
  return String(Number(sec) + (micro - 0.5) / 1e6);
}

/** Workers that decode and write blobs during a restore: one per core. */
function restoreWorkers(repo: Repository): number {
  return repo.memory.workers();
}

/**
 * Start restore's workers ahead of the restore, e.g. while the repository lock settles;
 * restore() takes them over (otherwise they start once the index is loaded).
 */
export function prestartRestore(repo: Repository): void {
  prestartOpenPool(repo.key, restoreWorkers(repo), repo.memory.holdFreedMemory);
}

/**
 * Restore a whole snapshot (or `subfolder` of it) into `target`, under a shared lock.
 *
 * @example
 * ```ts
 * const stats = await restore(repo, 'latest', '/tmp/restored');
 * console.log(`${stats.files} files, ${stats.bytes} bytes`);
 * ```
 */
export async function restore(
  repo: Repository,
  snapshotSpec: string,
  target: string,
  opts: RestoreOptions & OperationOptions & { subfolder?: string } = {},
): Promise<RestoreStats> {
  checkRepository(repo, 'restore');
  checkArg(typeof snapshotSpec === 'string', 'restore', 'a snapshot ID or "latest" as second argument', snapshotSpec);
  checkArg(typeof target === 'string', 'restore', 'the target directory (a string) as third argument', target);
  try {
    return await runOverlapped(repo, 'restore', opts, (signal) => restoreSnapshot(repo, snapshotSpec, target, { ...opts, signal }));
  } finally {
    await discardSpare(); // prestartRestore's workers, when the restore failed before taking them
  }
}

/**
 * Find the snapshot and start on its first packs while the lock settles; the target is written
 * only once repo.writesAllowed() says the lock is held.
 */
async function restoreSnapshot(
  repo: Repository,
  snapshotSpec: string,
  target: string,
  opts: RestoreOptions & { subfolder?: string },
): Promise<RestoreStats> {
  await repo.loadIndex();
  const { id, snapshot } = await repo.findSnapshot(snapshotSpec);
  if (!snapshot.tree) throw new FormatError('snapshot has no tree');
  let tree = snapshot.tree;
  let location = '/';
  for (const part of (opts.subfolder ?? '').split('/').filter(Boolean)) {
    const node = (await repo.loadTree(tree)).find((n) => Buffer.from(n.name).toString() === part);
    if (!node || node.type !== 'dir' || !node.subtree) throw new NotFoundError(`path ${opts.subfolder} not found in snapshot`);
    tree = node.subtree;
    location = path.posix.join(location, part);
  }
  const bounds = { packs: packReaders(repo), bytes: PREFETCH_BYTES };
  const prefetch = prefetches(repo, opts) ? PackPrefetch.start(repo, tree, bounds, opts.signal) : null;
  try {
    if (prefetch && absentTarget(target)) {
      // A new target: the trees are walked and the restore planned while the lock settles.
      const gate = repo.writesAllowed().then(() => opts.onStart?.(id, snapshot));
      gate.catch(() => undefined); // awaited below
      try {
        return await new Restorer(repo, opts, prefetch, gate).restoreTree(tree, target, location);
      } catch (err) {
        await gate; // a refused lock is the error to report
        if (!(err instanceof TargetAppeared)) throw err;
      }
    } else {
      await repo.writesAllowed();
      opts.onStart?.(id, snapshot);
    }
    return await new Restorer(repo, opts, prefetch).restoreTree(tree, target, location);
  } finally {
    prefetch?.clear();
  }
}

/** Whether nothing, not even a dangling symlink, is at `p` (an error other than ENOENT counts as something). */
function absentTarget(p: string): boolean {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return false; // e.g. EACCES: restored the usual way, which reports it
  }
  return st === undefined;
}

/** What packs fetched ahead may hold at most. */
const PREFETCH_BYTES = 64 << 20;

/**
 * Whether to fetch packs ahead: not on a tight memory budget, and not when filters or a dry
 * run may leave what the walk finds unread.
 */
function prefetches(repo: Repository, opts: RestoreOptions): boolean {
  return !repo.memory.tight && !opts.dryRun && !opts.include?.length && !opts.exclude?.length;
}

/**
 * A file's content as a stream of verified chunks, without touching the disk.
 *
 * @example
 * ```ts
 * const { node } = await stat(repo, 'latest', '/etc/hosts');
 * for await (const chunk of readFileContent(repo, node)) process.stdout.write(chunk);
 * ```
 */
export async function* readFileContent(repo: Repository, node: Node): AsyncGenerator<Uint8Array> {
  for (const id of node.content ?? []) yield await repo.loadBlob('data', id);
}
