/**
 * restic's `rewrite` and `repair snapshots` (0.15/0.16+) as library operations: a new
 * snapshot with a rewritten tree, `original` set to the snapshot it replaces, a tag
 * ("rewrite" or "repaired") unless the old snapshot is removed (`forget`). A snapshot
 * that does not change is left alone. Old snapshots stay unless asked; their data stays
 * until prune.
 */
import type { Repository } from '../repository/repository.js';
import type { Node } from '../format/node.js';
import type { Snapshot } from '../format/snapshot.js';
import { MasterIndex } from '../repository/master-index.js';
import { type Pattern, childMatch, matchList, parsePattern } from '../go/filter.js';
import { TreeRewriter } from '../walker/rewriter.js';
import { ResticError } from '../errors.js';
import { goTimeString } from '../go/time.js';

/** One step's report, in restic's words (the CLI prints them). */
export type RewriteEvent =
  | { type: 'snapshot'; id: string; snapshot: Snapshot }
  | { type: 'message'; text: string }
  | { type: 'excluded' | 'included'; path: string };

export interface ReplaceOptions {
  /** Report what would be done and write nothing. */
  dryRun?: boolean;
  /** Remove the original snapshot (then no tag is added). */
  forget?: boolean;
  onEvent?: (e: RewriteEvent) => void;
}

export interface RewriteOptions extends ReplaceOptions {
  /** restic's --exclude and --iexclude patterns, matched against snapshot paths. */
  exclude?: string[];
  iexclude?: string[];
  /**
   * restic 0.19's --include and --iinclude: keep only what matches (and the directories on
   * the way there); exclusive with excludes. A snapshot left empty is not changed.
   */
  include?: string[];
  iinclude?: string[];
  /** --new-host */
  newHost?: string;
  /** --new-time, as a Go RFC 3339 time */
  newTime?: string;
}

export interface ReplaceResult {
  /** Snapshots changed (or, under dryRun, that would change). */
  changed: number;
  /** Old ID → new ID for each snapshot saved. */
  saved: Map<string, string>;
}

interface Change {
  tree: string | null;
  /** With includes, an empty result leaves the snapshot as it is. */
  keepEmptySnapshot?: boolean;
  newHost?: string;
  newTime?: string;
}

/**
 * restic's filterAndReplaceSnapshot: save `snapshot` with the new tree and metadata (or
 * remove it when its tree is gone). Returns the new ID, '' when removed, null when unchanged.
 */
async function replaceSnapshot(
  repo: Repository,
  id: string,
  snapshot: Snapshot,
  change: Change,
  tag: string,
  opts: ReplaceOptions,
): Promise<string | null> {
  const say = (text: string) => opts.onEvent?.({ type: 'message', text });
  if (change.tree === null) {
    if (change.keepEmptySnapshot) return null;
    if (opts.dryRun) say('would delete empty snapshot');
    else {
      await repo.backend.remove({ type: 'snapshot', name: id });
      say(`removed empty snapshot ${id.slice(0, 8)}`);
    }
    return '';
  }
  if (change.tree === snapshot.tree && !change.newHost && !change.newTime) return null;
  if (opts.dryRun) {
    say('would save new snapshot');
    if (opts.forget) say('would remove old snapshot');
    if (change.newTime) say(`would set time to ${goTimeString(change.newTime)}`);
    if (change.newHost) say(`would set hostname to ${change.newHost}`);
    return id;
  }
  const s: Snapshot = {
    ...snapshot,
    original: id,
    tree: change.tree,
    paths: [...snapshot.paths],
    tags: snapshot.tags && [...snapshot.tags],
  };
  if (!opts.forget && !(s.tags ?? []).includes(tag)) s.tags = [...(s.tags ?? []), tag];
  if (change.newTime) {
    say(`setting time to ${goTimeString(change.newTime)}`);
    s.time = change.newTime;
  }
  if (change.newHost) {
    say(`setting host to ${change.newHost}`);
    s.hostname = change.newHost;
  }
  const newId = await repo.saveSnapshot(s);
  say(`saved new snapshot ${newId.slice(0, 8)}`);
  if (opts.forget) {
    await repo.backend.remove({ type: 'snapshot', name: id });
    say(`removed old snapshot ${id.slice(0, 8)}`);
  }
  return newId;
}

async function replaceAll(
  repo: Repository,
  list: Array<{ id: string; snapshot: Snapshot }>,
  tag: string,
  opts: ReplaceOptions,
  change: (id: string, s: Snapshot) => Promise<Change>,
): Promise<ReplaceResult> {
  if (opts.dryRun) repo.setDryRun();
  await repo.loadIndex();
  const result: ReplaceResult = { changed: 0, saved: new Map() };
  for (const { id, snapshot } of list) {
    opts.onEvent?.({ type: 'snapshot', id, snapshot });
    let newId: string | null;
    try {
      newId = await replaceSnapshot(repo, id, snapshot, await change(id, snapshot), tag, opts);
      await repo.flush();
    } catch (err) {
      throw new ResticError(`unable to rewrite snapshot ID ${JSON.stringify(id.slice(0, 8))}: ${(err as Error).message}`);
    }
    if (newId === null) continue;
    result.changed++;
    if (newId && !opts.dryRun) result.saved.set(id, newId);
  }
  return result;
}

/**
 * `rewrite`: the snapshots without the excluded paths and/or with a new host or time.
 * The caller holds a lock: exclusive with `forget`, else a shared one (none for dryRun).
 */
export async function rewriteSnapshots(
  repo: Repository,
  list: Array<{ id: string; snapshot: Snapshot }>,
  opts: RewriteOptions,
): Promise<ReplaceResult> {
  const patterns: Pattern[] = (opts.exclude ?? []).map(parsePattern);
  const ipatterns: Pattern[] = (opts.iexclude ?? []).map(parsePattern);
  const includes: Pattern[] = (opts.include ?? []).map(parsePattern);
  const iincludes: Pattern[] = (opts.iinclude ?? []).map(parsePattern);
  const excluding = patterns.length > 0 || ipatterns.length > 0;
  const including = includes.length > 0 || iincludes.length > 0;
  if (!excluding && !including && !opts.newHost && !opts.newTime)
    throw new ResticError('Nothing to do: no excludes/includes provided and no new metadata provided');
  if (excluding && including) throw new ResticError('exclude and include patterns are mutually exclusive');
  const excluded = (p: string) => matchList(patterns, p) || matchList(ipatterns, p, true);
  const included = (p: string) => matchList(includes, p) || matchList(iincludes, p, true);
  const childIncluded = (p: string) => includes.some((i) => childMatch(i, p)) || iincludes.some((i) => childMatch(i, p, true));
  const rewriter = new TreeRewriter(repo, {
    rewriteNode: (node, p) => {
      const keep = including ? included(p) || (node.type === 'dir' && childIncluded(p)) : !excluded(p);
      if (!keep && !including) opts.onEvent?.({ type: 'excluded', path: p });
      if (keep && including && node.type !== 'dir') opts.onEvent?.({ type: 'included', path: p });
      return keep ? node : null;
    },
    keepEmptyDirectory: including ? included : undefined,
  });
  return replaceAll(repo, list, 'rewrite', opts, async (_id, s) => {
    if (!s.tree) throw new ResticError('snapshot has nil tree');
    const tree = excluding || including ? await rewriter.rewriteTree(s.tree) : s.tree;
    return { tree, keepEmptySnapshot: including, newHost: opts.newHost, newTime: opts.newTime };
  });
}

/**
 * `repair snapshots`: files lose the content blobs the index does not have (and get the
 * size of what is left), unreadable trees become empty directories, a snapshot whose root
 * tree is unreadable is removed. The caller holds an exclusive lock (none for dryRun).
 */
export async function repairSnapshots(
  repo: Repository,
  list: Array<{ id: string; snapshot: Snapshot }>,
  opts: ReplaceOptions = {},
): Promise<ReplaceResult> {
  const say = (text: string) => opts.onEvent?.({ type: 'message', text });
  const rewriter = new TreeRewriter(repo, {
    rewriteNode: (node, p) => repairNode(repo, node, p, say),
    rewriteFailedTree: (_id, p) => {
      if (p === '/') {
        say(`  dir "${p}": not readable`);
        return null;
      }
      say(`  dir "${p}": replaced with empty directory`);
      return [];
    },
    allowUnstableSerialization: true,
    cacheByTreeId: true,
  });
  return replaceAll(repo, list, 'repaired', opts, async (_id, s) => ({ tree: await rewriter.rewriteTree(s.tree) }));
}

function repairNode(repo: Repository, node: Node, p: string, say: (text: string) => void): Node {
  if (node.type !== 'file') return node;
  const content: string[] = [];
  let size = 0;
  let missing = false;
  for (const id of node.content ?? []) {
    const loc = repo.index.lookup('data', id)[0];
    if (!loc) {
      missing = true;
      continue;
    }
    content.push(id);
    size += MasterIndex.plaintextSize(loc);
  }
  if (missing) say(`  file ${JSON.stringify(p)}: removed missing content`);
  else if (size !== (node.size ?? 0)) say(`  file ${JSON.stringify(p)}: fixed incorrect size`);
  else return node;
  return { ...node, content, size };
}
