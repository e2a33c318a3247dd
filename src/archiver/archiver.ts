/**
 * Backup of files and directories into a snapshot. Walks the targets depth first,
 * chunks file contents with the repository's polynomial, stores new blobs, writes one
 * tree per directory and finally the snapshot.
 */
import os from 'node:os';
import path from 'node:path';
import type { Repository } from '../repo/repository.js';
import type { Node } from '../repo/node.js';
import type { Snapshot } from '../repo/snapshot.js';
import { encodeTree, sortNodes } from '../repo/tree.js';
import { nowGoTime } from '../repo/time.js';
import { safeUsername } from '../repo/key.js';
import { hashId } from '../repo/id.js';
import { Chunker } from '../chunker/index.js';
import { type ArchiverFs, nodeFs } from './fs.js';
import { nodeFromStat, nodeTypeOf } from './node-from-stat.js';
import { type TargetTree, buildTargetTree, nameBytes } from './targets.js';

export interface BackupOptions {
  hostname?: string;
  tags?: string[];
  /** Snapshot time (Go RFC3339Nano); now by default. */
  time?: string;
  fs?: ArchiverFs;
  onWarning?: (w: BackupWarning) => void;
  programVersion?: string;
}

export interface BackupWarning {
  path: string;
  message: string;
}

export interface BackupStats {
  filesNew: number;
  dirsNew: number;
  dataBlobs: number;
  treeBlobs: number;
  dataAdded: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
}

export interface BackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  stats: BackupStats;
  warnings: BackupWarning[];
}

/** Read buffer: twice the chunker's maximum chunk so a whole chunk always fits after a shift. */
const READ_BUFFER_SIZE = 16 * 1024 * 1024;

export class Archiver {
  private readonly fs: ArchiverFs;
  private readonly chunker: Chunker;
  private buf: Buffer | null = null;
  readonly warnings: BackupWarning[] = [];
  readonly stats: BackupStats = {
    filesNew: 0,
    dirsNew: 0,
    dataBlobs: 0,
    treeBlobs: 0,
    dataAdded: 0,
    totalFilesProcessed: 0,
    totalBytesProcessed: 0,
  };

  constructor(
    private readonly repo: Repository,
    private readonly opts: BackupOptions = {},
  ) {
    this.fs = opts.fs ?? nodeFs;
    this.chunker = new Chunker(repo.config.chunkerPolynomial);
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
    const tt = buildTargetTree(this.fs, targets);
    const tree = await this.saveTargetTree(tt);
    await this.repo.flush();
    this.stats.dataBlobs = this.repo.added.dataBlobs - before.dataBlobs;
    this.stats.treeBlobs = this.repo.added.treeBlobs - before.treeBlobs;
    this.stats.dataAdded = this.repo.added.data + this.repo.added.tree - before.data - before.tree;
    const snapshot: Snapshot = {
      time,
      tree,
      paths: targets.map((t) => path.resolve(t)),
      hostname: this.opts.hostname ?? os.hostname(),
      username: safeUsername(),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      tags: this.opts.tags?.length ? this.opts.tags : undefined,
      programVersion: this.opts.programVersion,
    };
    const snapshotId = await this.repo.saveSnapshot(snapshot);
    return { snapshotId, snapshot, stats: this.stats, warnings: this.warnings };
  }

  private async saveTargetTree(t: TargetTree): Promise<string> {
    const nodes: Node[] = [];
    for (const [k, child] of t.children) {
      const name = nameBytes(k);
      if (child.path) {
        const node = await this.saveItem(name, child.path);
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
      node.subtree = await this.saveTargetTree(child);
      nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  private async saveTree(nodes: Node[]): Promise<string> {
    return (await this.repo.saveBlob('tree', encodeTree(sortNodes(nodes)))).id;
  }

  /** Save one file-system entry; null when it could not be read (a warning is recorded). */
  private async saveItem(name: Uint8Array, p: Buffer): Promise<Node | null> {
    let st;
    try {
      st = this.fs.lstat(p);
    } catch (err) {
      this.warn(p, err);
      return null;
    }
    const type = nodeTypeOf(st);
    if (!type || type === 'socket') return null; // restic 0.14 skips sockets
    const node = nodeFromStat(name, st, type);
    try {
      switch (type) {
        case 'file':
          return await this.saveFile(node, p);
        case 'dir':
          node.subtree = await this.saveDir(p);
          this.stats.dirsNew++;
          return node;
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

  private async saveDir(p: Buffer): Promise<string> {
    const nodes: Node[] = [];
    const names = this.fs.readdir(p);
    for (const name of names) {
      const node = await this.saveItem(name, Buffer.concat([p, Buffer.from('/'), name]));
      if (node) nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  /** Chunk and store a file; the node's size and times come from fstat of the open file. */
  private async saveFile(node: Node, p: Buffer): Promise<Node> {
    const fd = this.fs.open(p);
    try {
      const st = this.fs.fstat(fd);
      const fresh = nodeFromStat(node.name, st, 'file');
      fresh.content = await this.saveContent(fd);
      this.stats.filesNew++;
      this.stats.totalFilesProcessed++;
      return fresh;
    } finally {
      this.fs.close(fd);
    }
  }

  private async saveContent(fd: number): Promise<string[]> {
    const buf = (this.buf ??= Buffer.allocUnsafe(READ_BUFFER_SIZE));
    const ids: string[] = [];
    const chunker = this.chunker;
    chunker.reset();
    let filled = 0; // valid bytes in buf
    let start = 0; // start of the current chunk in buf
    let scan = 0; // where the chunker continues
    let pos = 0; // file position of buf[filled]
    for (;;) {
      if (filled === buf.length) {
        // Move the unfinished chunk to the front to make room.
        buf.copyWithin(0, start, filled);
        filled -= start;
        scan -= start;
        start = 0;
      }
      const n = this.fs.read(fd, buf, filled, buf.length - filled, pos);
      if (n === 0) break;
      filled += n;
      pos += n;
      this.stats.totalBytesProcessed += n;
      for (;;) {
        const cut = chunker.next(buf, scan, filled);
        if (cut < 0) {
          scan = filled;
          break;
        }
        ids.push(await this.saveChunk(buf.subarray(start, cut)));
        start = scan = cut;
      }
    }
    if (filled > start) ids.push(await this.saveChunk(buf.subarray(start, filled)));
    return ids;
  }

  private async saveChunk(data: Uint8Array): Promise<string> {
    return (await this.repo.saveBlob('data', data, hashId(data))).id;
  }
}

export async function backup(repo: Repository, targets: string[], opts: BackupOptions = {}): Promise<BackupResult> {
  return new Archiver(repo, opts).run(targets);
}
