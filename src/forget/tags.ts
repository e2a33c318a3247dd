/**
 * Tag lists and snapshot filters with restic 0.14's exact rules (TagList, HasTags,
 * HasTagList, HasHostname, HasPaths, AddTags, RemoveTags).
 */
import type { Snapshot } from '../format/snapshot.js';
import { type Repository } from '../repository/repository.js';

/** `a, b,,c` → ["a", "b", "", "c"]: split at commas, trim each tag, keep empty ones (restic's splitTagList). */
export function splitTagList(s: string): string[] {
  return s.split(',').map((t) => t.trim());
}

/** Repeated `--tag a,b` flags → one tag list per flag. */
export function parseTagListFlags(values: string[] | undefined): string[][] {
  return (values ?? []).map(splitTagList);
}

/** TagLists.Flatten(): every non-empty tag of every list. */
export function flattenTagLists(lists: string[][]): string[] {
  return lists.flat().filter((t) => t !== '');
}

/** Go's %v of a TagList: "[a, b]". */
export function formatTagList(l: string[]): string {
  return '[' + l.join(', ') + ']';
}

/**
 * restic's HasTags: all tags of `l` present. An empty tag matches a snapshot without tags
 * (and then ends the check early, as in restic).
 */
export function hasTags(s: Snapshot, l: string[]): boolean {
  const tags = s.tags ?? [];
  for (const tag of l) {
    if (tag === '' && tags.length === 0) return true;
    if (!tags.includes(tag)) return false;
  }
  return true;
}

export interface SnapshotSelector {
  hosts?: string[];
  tags?: string[][];
  paths?: string[];
}

/** HasHostname && HasTagList && HasPaths; empty criteria match everything. */
export function selectorMatches(s: Snapshot, f: SnapshotSelector): boolean {
  if (f.hosts?.length && !f.hosts.includes(s.hostname ?? '')) return false;
  if (f.tags?.length && !f.tags.some((l) => hasTags(s, l))) return false;
  if (f.paths?.length && !f.paths.every((p) => s.paths.includes(p))) return false;
  return true;
}

/** restic's AddTags: append tags not yet present; returns whether anything changed. */
export function addTags(s: Snapshot, add: string[]): boolean {
  let changed = false;
  for (const t of add) {
    const tags = s.tags ?? [];
    if (tags.includes(t)) continue;
    s.tags = [...tags, t];
    changed = true;
  }
  return changed;
}

/**
 * restic's RemoveTags: drop the first occurrence of each tag by moving the last tag into
 * its place (so the order of the remaining tags changes as it does in restic).
 */
export function removeTags(s: Snapshot, remove: string[]): boolean {
  let changed = false;
  for (const r of remove) {
    const tags = s.tags ?? [];
    const i = tags.indexOf(r);
    if (i < 0) continue;
    tags[i] = tags[tags.length - 1]!;
    tags.pop();
    s.tags = tags.length ? tags : undefined;
    changed = true;
  }
  return changed;
}

/**
 * Every snapshot that can be loaded, oldest first. Like restic's FindFilteredSnapshots, a
 * snapshot file that cannot be read or decrypted is reported through `warn` and skipped,
 * so one damaged file does not stop forget, tag or copy.
 */
export async function loadSnapshots(
  repo: Repository,
  warn: (line: string) => void = () => {},
): Promise<Array<{ id: string; snapshot: Snapshot }>> {
  return repo.listSnapshots((id, err) => warn(couldNotLoad(id, err)));
}

/** restic's warning for a snapshot file that cannot be loaded. */
export function couldNotLoad(id: string, err: unknown): string {
  return `could not load snapshot ${id.slice(0, 8)}: ${(err as Error)?.message ?? String(err)}`;
}
