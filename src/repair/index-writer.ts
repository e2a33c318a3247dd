/**
 * Writing a complete new index: every pack that stays, in files of at most 50,000 blobs
 * (restic's limit), each naming the index files it replaces in `supersedes`. Callers delete
 * the superseded files only after every new file is stored, so a crash in between leaves
 * duplicate (harmless) index entries, never missing ones.
 */
import type { Repository } from '../repository/repository.js';
import { INDEX_MAX_BLOBS, type IndexPack } from '../format/index-file.js';

export async function writeIndexFiles(
  repo: Repository,
  packs: Iterable<IndexPack>,
  supersedes: string[],
  onSaved?: (id: string) => void | Promise<void>,
): Promise<string[]> {
  const written: string[] = [];
  let batch: IndexPack[] = [];
  let blobs = 0;
  const save = async () => {
    // Like restic, only the first new file lists what is superseded.
    const id = await repo.saveIndexFile({ supersedes: written.length ? [] : supersedes, packs: batch });
    written.push(id);
    batch = [];
    blobs = 0;
    await onSaved?.(id);
  };
  for (const p of packs) {
    batch.push(p);
    blobs += p.blobs.length;
    if (blobs >= INDEX_MAX_BLOBS) await save();
  }
  if (batch.length || (!written.length && supersedes.length)) await save();
  return written;
}

/** Delete index files (already replaced); a missing file is not an error. */
export async function deleteIndexFiles(
  repo: Repository,
  ids: Iterable<string>,
  onDeleted?: (id: string) => void | Promise<void>,
): Promise<void> {
  for (const id of ids) {
    await repo.backend.remove({ type: 'index', name: id });
    await onDeleted?.(id);
  }
}
