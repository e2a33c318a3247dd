/**
 * Snapshot selection as restic 0.14's read commands do it: explicit IDs (unique prefixes
 * or "latest"), or every snapshot matching --host/--tag/--path filters.
 */
import path from 'node:path';
import { NotFoundError, UsageError } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import type { Snapshot } from '../format/snapshot.js';
import { compareGoTimes } from '../go/time.js';
import { couldNotLoad } from '../forget/tags.js';

export interface SnapshotFilter {
  /** Any of these hosts (empty: any host). */
  hosts?: string[];
  /** Any of these tag lists, each a list of tags that must all be present. */
  tags?: string[][];
  /** All of these paths must be among the snapshot's paths. */
  paths?: string[];
}

export interface FoundSnapshot {
  id: string;
  snapshot: Snapshot;
}

/** `--tag a,b --tag c` → [["a","b"],["c"]] (restic's TagLists). */
export function parseTagLists(values: string[] | undefined): string[][] {
  return (values ?? []).map((v) =>
    v
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
  );
}

/** restic's HasHostname && HasTagList && HasPaths. */
export function snapshotMatches(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.hosts?.length && !f.hosts.includes(s.hostname ?? '')) return false;
  if (f.tags?.length) {
    const tags = s.tags ?? [];
    const hasTags = (l: string[]) => l.every((t) => (t === '' && tags.length === 0) || tags.includes(t));
    if (!f.tags.some(hasTags)) return false;
  }
  if (f.paths?.length && !f.paths.every((p) => s.paths.includes(p))) return false;
  return true;
}

/** The full snapshot ID for a unique prefix, with restic's error words. */
export async function findSnapshotId(repo: Repository, prefix: string): Promise<string> {
  let match = '';
  for await (const id of repo.listIds('snapshot')) {
    if (!id.startsWith(prefix)) continue;
    if (match) throw new UsageError(`multiple IDs with prefix ${JSON.stringify(prefix)} found`);
    match = id;
  }
  if (!match) throw new NotFoundError(`no matching ID found for prefix ${JSON.stringify(prefix)}`);
  return match;
}

/** The latest snapshot matching the filter (paths are made absolute, as restic does). */
export async function findLatestSnapshot(repo: Repository, f: SnapshotFilter = {}, all?: FoundSnapshot[]): Promise<FoundSnapshot> {
  const filter = { ...f, paths: f.paths?.map((p) => path.resolve(p)) };
  const list = (all ?? (await repo.listSnapshots())).filter((s) => snapshotMatches(s.snapshot, filter));
  let latest: FoundSnapshot | undefined;
  for (const s of list) if (!latest || compareGoTimes(s.snapshot.time, latest.snapshot.time) >= 0) latest = s;
  if (!latest) throw new NotFoundError('no snapshot found');
  return latest;
}

/** One snapshot given as "latest" (narrowed by the filter) or an ID prefix. */
export async function findSnapshot(repo: Repository, spec: string, f: SnapshotFilter = {}): Promise<FoundSnapshot> {
  if (spec === 'latest') return findLatestSnapshot(repo, f);
  const id = await findSnapshotId(repo, spec);
  return { id, snapshot: await repo.loadSnapshot(id) };
}

/**
 * restic's FindFilteredSnapshots: the snapshots named by `ids` in that order (duplicates removed; ones
 * that cannot be found are reported through `warn` and skipped), or, without IDs, all
 * snapshots matching the filter, oldest first.
 */
export async function findFilteredSnapshots(
  repo: Repository,
  f: SnapshotFilter,
  ids: string[],
  warn: (msg: string) => void = () => {},
): Promise<FoundSnapshot[]> {
  // as restic: an unreadable snapshot file is reported and the others are listed
  if (!ids.length)
    return (await repo.listSnapshots((id, err) => warn(couldNotLoad(id, err)))).filter((s) => snapshotMatches(s.snapshot, f));
  let all: FoundSnapshot[] | undefined;
  let usedFilter = false;
  const found: string[] = [];
  for (const spec of ids) {
    try {
      if (spec === 'latest') {
        usedFilter = true;
        all ??= await repo.listSnapshots();
        found.push((await findLatestSnapshot(repo, f, all)).id);
      } else {
        found.push(await findSnapshotId(repo, spec));
      }
    } catch (err) {
      if (spec === 'latest') {
        warn(
          `Ignoring "latest", no snapshot matched given filter (Paths:${goList(f.paths)} Tags:${goList(f.tags?.map((t) => goList(t)))} Hosts:${goList(f.hosts)})`,
        );
      } else warn(`Ignoring ${JSON.stringify(spec)}: ${(err as Error).message}`);
    }
  }
  if (!usedFilter && (f.hosts?.length || f.tags?.length || f.paths?.length))
    warn('Ignoring filters as there are explicit snapshot ids given');
  const out: FoundSnapshot[] = [];
  for (const id of new Set(found)) {
    try {
      out.push({ id, snapshot: all?.find((s) => s.id === id)?.snapshot ?? (await repo.loadSnapshot(id)) });
    } catch (err) {
      warn(`Ignoring ${JSON.stringify(id)}, could not load snapshot: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Go's %v of a string slice: "[a b]". */
export function goList(l: string[] | undefined): string {
  return '[' + (l ?? []).join(' ') + ']';
}
