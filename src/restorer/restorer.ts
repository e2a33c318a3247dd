/**
 * Restore of a snapshot (or a subtree of it) into a target directory. Every blob is
 * verified on load. Names that could escape the target are refused, and nothing is
 * ever followed through a symlink: files are created with O_NOFOLLOW|O_EXCL semantics
 * below directories this restore created itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Repository } from '../repo/repository.js';
import type { Node } from '../repo/node.js';
import { posixPermFromGo } from '../repo/mode.js';
import { parseGoTime } from '../repo/gojson.js';

export interface RestoreOptions {
  /** Called for each problem; restoring continues with the next entry. */
  onWarning?: (w: { path: string; message: string }) => void;
  /** Restore ownership (default: when running as root). */
  restoreOwnership?: boolean;
}

export interface RestoreStats {
  files: number;
  dirs: number;
  bytes: number;
  errors: number;
}

const SEP = Buffer.from('/');

/** A tree entry name that is safe to create inside a directory. */
export function isSafeName(name: Uint8Array): boolean {
  if (name.length === 0 || name.includes(0x2f) || name.includes(0)) return false;
  const s = Buffer.from(name).toString('latin1');
  return s !== '.' && s !== '..';
}

export class Restorer {
  readonly stats: RestoreStats = { files: 0, dirs: 0, bytes: 0, errors: 0 };
  private readonly chown: boolean;

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreOptions = {},
  ) {
    this.chown = opts.restoreOwnership ?? process.getuid?.() === 0;
  }

  private warn(p: Buffer, err: unknown): void {
    this.stats.errors++;
    this.opts.onWarning?.({ path: p.toString(), message: (err as Error)?.message ?? String(err) });
  }

  /** Restore the contents of tree `treeId` into directory `target` (created if missing). */
  async restoreTree(treeId: string, target: string): Promise<RestoreStats> {
    const dir = Buffer.from(path.resolve(target));
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    await this.restoreDir(treeId, dir);
    return this.stats;
  }

  private async restoreDir(treeId: string, dir: Buffer): Promise<void> {
    const nodes = await this.repo.loadTree(treeId);
    for (const node of nodes) {
      const p = Buffer.concat([dir, SEP, node.name]);
      if (!isSafeName(node.name)) {
        this.warn(p, new Error(`refusing to restore unsafe name ${JSON.stringify(Buffer.from(node.name).toString())}`));
        continue;
      }
      try {
        await this.restoreNode(node, p);
      } catch (err) {
        this.warn(p, err);
      }
    }
  }

  private async restoreNode(node: Node, p: Buffer): Promise<void> {
    switch (node.type) {
      case 'dir':
        fs.mkdirSync(p, { mode: 0o700 });
        this.stats.dirs++;
        if (node.subtree) await this.restoreDir(node.subtree, p);
        break;
      case 'file':
        await this.restoreFile(node, p);
        this.stats.files++;
        break;
      case 'symlink':
        fs.symlinkSync(Buffer.from(node.linktarget ?? new Uint8Array()), p);
        break;
      default:
        throw new Error(`restoring ${node.type} nodes is not supported yet`);
    }
    this.restoreMetadata(node, p);
  }

  private async restoreFile(node: Node, p: Buffer): Promise<void> {
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
    const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      let pos = 0;
      for (const id of node.content ?? []) {
        const data = await this.repo.loadBlob('data', id);
        fs.writeSync(fd, data, 0, data.length, pos);
        pos += data.length;
      }
      this.stats.bytes += pos;
    } finally {
      fs.closeSync(fd);
    }
  }

  private restoreMetadata(node: Node, p: Buffer): void {
    if (this.chown) fs.lchownSync(p, node.uid, node.gid);
    if (node.type !== 'symlink' && node.mode !== undefined) fs.chmodSync(p, posixPermFromGo(node.mode));
    const at = toDate(node.atime);
    const mt = toDate(node.mtime);
    if (node.type === 'symlink') fs.lutimesSync(p, at, mt);
    else fs.utimesSync(p, at, mt);
  }
}

/** Seconds with fraction for utimes; keeps sub-microsecond digits as far as a double can. */
function toDate(t: string): number {
  const { sec, nsec } = parseGoTime(t);
  return Number(sec) + nsec / 1e9;
}

/** Restore a whole snapshot (or `subfolder` of it) into `target`. */
export async function restore(
  repo: Repository,
  snapshotSpec: string,
  target: string,
  opts: RestoreOptions & { subfolder?: string } = {},
): Promise<RestoreStats> {
  await repo.loadIndex();
  const { snapshot } = await repo.findSnapshot(snapshotSpec);
  if (!snapshot.tree) throw new Error('snapshot has no tree');
  let tree = snapshot.tree;
  for (const part of (opts.subfolder ?? '').split('/').filter(Boolean)) {
    const node = (await repo.loadTree(tree)).find((n) => Buffer.from(n.name).toString() === part);
    if (!node || node.type !== 'dir' || !node.subtree) throw new Error(`path ${opts.subfolder} not found in snapshot`);
    tree = node.subtree;
  }
  return new Restorer(repo, opts).restoreTree(tree, target);
}

/** A file's content as a stream of verified chunks, without touching the disk. */
export async function* readFileContent(repo: Repository, node: Node): AsyncGenerator<Uint8Array> {
  for (const id of node.content ?? []) yield await repo.loadBlob('data', id);
}
