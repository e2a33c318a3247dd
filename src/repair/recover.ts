/**
 * restic's `recover`: a snapshot of every tree no other tree and no snapshot refers to,
 * e.g. the trees of a backup that was interrupted before its snapshot was saved, or of a
 * snapshot file that was lost. Each root tree becomes a directory named by its short ID
 * under the new snapshot's "/recover" path, tagged "recovered".
 */
import os from 'node:os';
import type { Repository } from '../repository/repository.js';
import type { Node } from '../format/node.js';
import { safeUsername } from '../format/key.js';
import { sortNodes } from '../format/tree.js';
import { nowGoTime } from '../go/time.js';

export interface RecoverOptions {
  hostname?: string;
  /** Progress lines in restic's words. */
  log?: (line: string) => void;
  /** A tree that cannot be loaded (it is skipped). */
  onWarning?: (message: string) => void;
}

export interface RecoverResult {
  /** Root trees found, sorted. */
  roots: string[];
  /** The new snapshot's ID, or null when there was nothing to recover. */
  snapshotId: string | null;
}

/** The caller holds an exclusive lock, as restic does. */
export async function recover(repo: Repository, opts: RecoverOptions = {}): Promise<RecoverResult> {
  const log = opts.log ?? (() => {});
  log('load index files');
  await repo.loadIndex();
  const referenced = new Map<string, boolean>();
  for (const pack of repo.index.allPacks()) for (const b of pack.blobs) if (b.type === 'tree') referenced.set(b.id, false);
  log(`load ${referenced.size} trees`);
  for (const id of referenced.keys()) {
    let nodes: Node[];
    try {
      nodes = await repo.loadTree(id);
    } catch (err) {
      opts.onWarning?.(`unable to load tree ${id.slice(0, 8)}: ${(err as Error).message}`);
      continue;
    }
    for (const n of nodes) if (n.type === 'dir' && n.subtree) referenced.set(n.subtree, true);
  }
  log('load snapshots');
  for (const { snapshot } of await repo.listSnapshots()) if (snapshot.tree) referenced.set(snapshot.tree, true);
  log('done');
  const roots = [...referenced]
    .filter(([, seen]) => !seen)
    .map(([id]) => id)
    .sort();
  if (!roots.length) return { roots, snapshotId: null };
  const now = nowGoTime();
  // restic writes these directory nodes with mode 0755 and no type bit
  const nodes: Node[] = roots.map((id) => ({
    name: Buffer.from(id.slice(0, 8)),
    type: 'dir',
    mode: 0o755,
    mtime: now,
    atime: now,
    ctime: now,
    uid: 0,
    gid: 0,
    subtree: id,
    content: null,
  }));
  const tree = await repo.saveTree(sortNodes(nodes));
  await repo.flush();
  const snapshotId = await repo.saveSnapshot({
    time: now,
    tree,
    paths: ['/recover'],
    hostname: opts.hostname ?? os.hostname(),
    username: safeUsername(),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    tags: ['recovered'],
  });
  return { roots, snapshotId };
}
