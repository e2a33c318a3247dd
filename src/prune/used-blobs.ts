/**
 * The blobs snapshots need: every tree reachable from a snapshot and every data blob those
 * trees' files list. A tree that cannot be loaded aborts prune (deleting anything then
 * could destroy the last copy of something a snapshot needs).
 */
import type { Repository } from '../repository/repository.js';
import { mapLimit } from '../parallel/map-limit.js';
import type { MasterIndex } from '../repository/master-index.js';
import { decodeTree } from '../format/tree.js';
import type { Node } from '../format/node.js';
import { ResticError } from '../errors.js';

const TREE_CONCURRENCY = 8;

/** Blob handle key: type initial + ID ("t…" / "d…"), as the master index uses. */
export const blobKey = (type: 'data' | 'tree', id: string): string => (type === 'data' ? 'd' : 't') + id;

/** Load and verify a tree through `index`, trying every copy. */
async function loadTreeVia(repo: Repository, index: MasterIndex, id: string): Promise<Node[]> {
  if (!index.has('tree', id)) throw new ResticError(`tree ${id} not found in the index`);
  return decodeTree(await repo.loadBlob('tree', id, index));
}

export async function findUsedBlobs(
  repo: Repository,
  index: MasterIndex,
  roots: string[],
  onSnapshotDone?: (done: number, total: number) => void,
): Promise<Set<string>> {
  const used = new Set<string>();
  let done = 0;
  onSnapshotDone?.(0, roots.length);
  for (const root of roots) {
    let level = [root];
    while (level.length) {
      const todo = level.filter((id) => !used.has(blobKey('tree', id)));
      for (const id of todo) used.add(blobKey('tree', id));
      const next: string[] = [];
      await mapLimit(todo, TREE_CONCURRENCY, async (id) => {
        let nodes: Node[];
        try {
          nodes = await loadTreeVia(repo, index, id);
        } catch (err) {
          throw new ResticError(`unable to load a tree from the repository: ${(err as Error).message}`, { cause: err });
        }
        for (const n of nodes) {
          if (n.type === 'file') for (const b of n.content ?? []) used.add(blobKey('data', b));
          else if (n.type === 'dir' && n.subtree) next.push(n.subtree);
        }
      });
      level = next;
    }
    onSnapshotDone?.(++done, roots.length);
  }
  return used;
}
