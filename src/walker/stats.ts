/**
 * Repository statistics behind `stats` (restic 0.14's statsContainer and its four
 * counting modes), accumulated over one or more snapshots:
 * - restore-size: every node counts as a file; sizes add up, hard links (same inode) once;
 * - files-by-contents: files unique by their content blob list;
 * - blobs-per-file: per unique file path, the plaintext size of each distinct blob;
 * - raw-data: the stored (encrypted, possibly compressed) size of every referenced blob.
 */
import { createHash } from 'node:crypto';
import type { Node } from '../format/node.js';
import { MasterIndex } from '../repository/master-index.js';
import { NotFoundError, UsageError } from '../errors.js';
import { type ByteString, joinPath, bstr } from '../go/bytestring.js';
import { walkTree } from './walker.js';
import { BlobIdSet, blobIdInto } from '../format/blob-list.js';

export type StatsMode = 'restore-size' | 'files-by-contents' | 'raw-data' | 'blobs-per-file';
export const STATS_MODES: readonly StatsMode[] = ['restore-size', 'files-by-contents', 'blobs-per-file', 'raw-data'];

/** What the statistics need from a repository (a Repository with its index loaded). */
export interface StatsRepository {
  loadTree(id: string): Promise<Node[]>;
  readonly index: MasterIndex;
}

export interface StatsResult {
  totalSize: number;
  totalFileCount: number;
  totalBlobCount: number;
  snapshotsCount: number;
}

/** `restic stats --json` for a result: total_blob_count only when non-zero. */
export function statsJson(r: StatsResult): string {
  return (
    `{"total_size":${r.totalSize},"total_file_count":${r.totalFileCount}` +
    (r.totalBlobCount ? `,"total_blob_count":${r.totalBlobCount}` : '') +
    `,"snapshots_count":${r.snapshotsCount}}`
  );
}

export class StatsCollector {
  readonly result: StatsResult = { totalSize: 0, totalFileCount: 0, totalBlobCount: 0, snapshotsCount: 0 };
  /** SHA-256 of each file's content list (as a data "ID": the set needs a type). */
  private readonly uniqueFiles = new BlobIdSet();
  private readonly fileBlobs = new Map<ByteString, Set<string>>();
  /** raw-data's referenced blobs as binary IDs (restic's BlobSet), not one string each. */
  private blobs = new BlobIdSet();
  private readonly idBuf = Buffer.alloc(32);

  constructor(
    private readonly repo: StatsRepository,
    readonly mode: StatsMode = 'restore-size',
  ) {
    if (!STATS_MODES.includes(mode))
      throw new UsageError(`unknown counting mode: ${mode} (use the -h flag to get a list of supported modes)`);
  }

  /** Add one snapshot's tree. */
  async addSnapshot(tree: string | null, shortId = ''): Promise<void> {
    if (!tree) throw new UsageError(`snapshot ${shortId} has nil tree`);
    this.result.snapshotsCount++;
    if (this.mode === 'raw-data') return this.collectBlobs(tree);
    const uniqueInodes = new Set<bigint>();
    await walkTree(this.repo, tree, (parentTreeId, npath, node, err) => {
      if (err) throw err;
      if (node === null) return { ignore: true };
      if (this.mode === 'files-by-contents' || this.mode === 'blobs-per-file') this.countByContents(parentTreeId, npath, node);
      if (this.mode === 'restore-size') {
        this.result.totalFileCount++;
        const inode = BigInt(node.inode ?? 0);
        if (!uniqueInodes.has(inode) || inode === 0n) {
          uniqueInodes.add(inode);
          this.result.totalSize += node.size ?? 0;
        }
        return {};
      }
      return { ignore: true };
    });
  }

  private countByContents(parentTreeId: string, npath: ByteString, node: Node): void {
    const h = createHash('sha256');
    for (const id of node.content ?? []) h.update(Buffer.from(id, 'hex'));
    if (!this.uniqueFiles.add('data', h.digest())) return;
    if (this.mode === 'files-by-contents') {
      this.result.totalSize += node.size ?? 0;
      this.result.totalFileCount++;
      return;
    }
    // restic keys files by filepath.Join(npath, node.Name): the name appears twice.
    const nodePath = joinPath(npath, bstr(node.name));
    for (const blobId of node.content ?? []) {
      let seen = this.fileBlobs.get(nodePath);
      if (!seen) {
        seen = new Set();
        this.fileBlobs.set(nodePath, seen);
        this.result.totalFileCount++;
      }
      if (seen.has(blobId)) continue;
      const loc = this.repo.index.lookup('data', blobId)[0];
      if (!loc) throw new NotFoundError(`blob ${blobId} not found for tree ${parentTreeId}`);
      this.result.totalSize += MasterIndex.plaintextSize(loc);
      seen.add(blobId);
      this.result.totalBlobCount++;
    }
  }

  /** restic's FindUsedBlobs: every tree once, and the data blobs of its files. */
  private async collectBlobs(root: string): Promise<void> {
    const queue = [root];
    while (queue.length) {
      const id = queue.pop()!;
      if (!this.blobs.add('tree', blobIdInto(id, this.idBuf))) continue;
      for (const node of await this.repo.loadTree(id)) {
        if (node.type === 'file') for (const b of node.content ?? []) this.blobs.add('data', blobIdInto(b, this.idBuf));
        else if (node.type === 'dir' && node.subtree) queue.push(node.subtree);
      }
    }
  }

  /** Final numbers (raw-data sums the collected blobs' stored sizes here). */
  finish(): StatsResult {
    if (this.mode === 'raw-data') {
      let missing: string | null = null;
      this.blobs.forEach((type, idBytes) => {
        const id = Buffer.from(idBytes.buffer, idBytes.byteOffset, 32).toString('hex');
        const loc = this.repo.index.lookup(type, id)[0];
        if (!loc) missing ??= `blob <${type}/${id.slice(0, 8)}> not found`;
        else this.result.totalSize += loc.length;
        this.result.totalBlobCount++;
      });
      this.blobs = new BlobIdSet();
      if (missing) throw new NotFoundError(missing);
    }
    return this.result;
  }
}
