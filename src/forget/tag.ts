/**
 * `tag` as a library: rewrite a snapshot with changed tags (restic 0.14's changeTags). The
 * snapshot ID is the hash of the file, so a change saves a new file and deletes the old
 * one; `original` records the first ID and is never changed afterwards.
 */
import type { Repository } from '../repository/repository.js';
import type { Snapshot } from '../format/snapshot.js';
import { addTags, removeTags } from './tags.js';

export interface TagChange {
  /** replace all tags (restic: a flattened list; an empty list means "not given") */
  set?: string[];
  add?: string[];
  remove?: string[];
}

/** Apply the change to `s` in place, as restic does; returns whether it changed. */
export function applyTagChange(s: Snapshot, c: TagChange): boolean {
  if (c.set?.length) {
    // Setting a single empty tag means no tags (unreachable from restic 0.14's CLI, whose
    // --set flags are flattened without empty tags first).
    s.tags = c.set.length === 1 && c.set[0] === '' ? undefined : [...c.set];
    return true;
  }
  const added = addTags(s, c.add ?? []);
  const removed = removeTags(s, c.remove ?? []);
  return added || removed;
}

/**
 * Change the tags of snapshot `id`; returns the new snapshot ID, or null when nothing
 * changed. The caller should hold an exclusive lock.
 */
export async function changeSnapshotTags(repo: Repository, id: string, snapshot: Snapshot, c: TagChange): Promise<string | null> {
  const s: Snapshot = { ...snapshot, paths: [...snapshot.paths], tags: snapshot.tags && [...snapshot.tags] };
  if (!applyTagChange(s, c)) return null;
  s.original ??= id;
  const newId = await repo.saveSnapshot(s);
  if (newId !== id) await repo.backend.remove({ type: 'snapshot', name: id });
  return newId;
}
