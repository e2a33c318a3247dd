/**
 * `forget` as a library: select snapshots, group them, apply the expire policy per group
 * (planForget is pure), report in restic's JSON shape, and delete the removed snapshot files.
 */
import { checkArg, UsageError } from '../errors.js';
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';
import { mapLimit } from '../parallel/map-limit.js';
import { goJsonString, goJsonStrings } from '../go/json-string.js';
import { snapshotJson014, snapshotJsonWithId } from '../format/snapshot.js';
import { type GroupByOptions, type GroupKey, groupSnapshots, parseGroupByOptions, presortForGrouping } from './group.js';
import { type ExpirePolicy, type KeepReason, type SnapshotEntry, applyPolicy, isEmptyPolicy } from './policy.js';
import { type SnapshotSelector, loadSnapshots, selectorMatches } from './tags.js';

export interface ForgetPlanOptions {
  policy: ExpirePolicy;
  /** restic's --group-by; default "host,paths" */
  groupBy?: string | GroupByOptions;
  /** --host/--tag/--path */
  filter?: SnapshotSelector;
  /** ms since the epoch; decides which snapshots are "in the future" (default: now) */
  now?: number;
  /**
   * restic ≥ 0.17's --unsafe-allow-remove-all: an empty policy removes every snapshot the
   * filter selects. Refused without a filter (host, tag or path), as restic refuses it.
   */
  unsafeAllowRemoveAll?: boolean;
  /** Cancels planForgetAsync between its steps. */
  signal?: AbortSignal;
}

export interface ForgetGroup<E extends SnapshotEntry = SnapshotEntry> {
  key: GroupKey;
  keyJson: string;
  /** newest first */
  keep: E[];
  remove: E[];
  reasons: KeepReason<E>[];
}

/**
 * Which snapshots each group keeps and removes. An empty policy yields no groups (restic
 * then removes nothing). Snapshot paths (and tags, when grouping by tags) are sorted in
 * place, as restic does.
 */
export function planForget<E extends SnapshotEntry>(all: E[], opts: ForgetPlanOptions): ForgetGroup<E>[] {
  const removeAll = isEmptyPolicy(opts.policy);
  if (removeAll && !opts.unsafeAllowRemoveAll) return [];
  if (removeAll && isEmptySelector(opts.filter))
    throw new UsageError('--unsafe-allow-remove-all is not allowed unless a snapshot filter option is specified');
  const g = typeof opts.groupBy === 'object' ? opts.groupBy : parseGroupByOptions(opts.groupBy ?? 'host,paths');
  const list = opts.filter ? all.filter((e) => selectorMatches(e.snapshot, opts.filter!)) : all;
  return groupSnapshots(list, g).map((group) => {
    if (removeAll) {
      const remove = applyPolicy(group.snapshots, opts.policy, opts.now).keep; // sorted newest first
      return { key: group.key, keyJson: group.keyJson, keep: [], remove, reasons: [] };
    }
    const r = applyPolicy(group.snapshots, opts.policy, opts.now);
    return { key: group.key, keyJson: group.keyJson, keep: r.keep, remove: r.remove, reasons: r.reasons };
  });
}

/** planForget with the long sorts done first, letting the event loop run between snapshots. */
export async function planForgetAsync<E extends SnapshotEntry>(all: E[], opts: ForgetPlanOptions): Promise<ForgetGroup<E>[]> {
  if (isEmptyPolicy(opts.policy) && !opts.unsafeAllowRemoveAll) return [];
  const g = typeof opts.groupBy === 'object' ? opts.groupBy : parseGroupByOptions(opts.groupBy ?? 'host,paths');
  await presortForGrouping(opts.filter ? all.filter((e) => selectorMatches(e.snapshot, opts.filter!)) : all, g, opts.signal);
  opts.signal?.throwIfAborted();
  return planForget(all, { ...opts, groupBy: g });
}

function isEmptySelector(f: SnapshotSelector | undefined): boolean {
  return !f || (!f.hosts?.length && !f.tags?.length && !f.paths?.length);
}

/** Every snapshot ID some group removes. */
export function removedIds(groups: ForgetGroup[]): string[] {
  return [...new Set(groups.flatMap((g) => g.remove.map((e) => e.id)))];
}

const entries = (l: SnapshotEntry[]) => (l.length ? '[' + l.map((e) => snapshotJsonWithId(e.snapshot, e.id)).join(',') + ']' : 'null');

function reasonJson(r: KeepReason): string {
  const c = r.counters;
  const counters = (['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const)
    .filter((k) => c[k] !== 0)
    .map((k) => `"${k}":${c[k]}`)
    .join(',');
  return `{"snapshot":${snapshotJson014(r.entry.snapshot)},"matches":${goJsonStrings(r.matches)},"counters":{${counters}}}`;
}

/** restic 0.14's `forget --json` document (one line, newline-terminated); groups sorted by key. */
export function forgetJson(groups: ForgetGroup[]): string {
  const sorted = [...groups].sort((a, b) => (a.keyJson < b.keyJson ? -1 : a.keyJson > b.keyJson ? 1 : 0));
  const out = sorted.map(
    (g) =>
      `{"tags":${goJsonStrings(g.key.tags)},"host":${goJsonString(g.key.hostname)},"paths":${goJsonStrings(g.key.paths)}` +
      `,"keep":${entries(g.keep)},"remove":${entries(g.remove)}` +
      `,"reasons":${g.reasons.length ? '[' + g.reasons.map(reasonJson).join(',') + ']' : 'null'}}`,
  );
  return '[' + out.join(',') + ']\n';
}

/** Delete snapshot files (the caller holds an exclusive lock). Fails on the first error. */
export async function deleteSnapshots(repo: Repository, ids: string[]): Promise<void> {
  await mapLimit(ids, 8, (name) => repo.backend.remove({ type: 'snapshot', name }));
}

/** Options of forget(): the policy, grouping, filters, dry run, lock and signal. */
export interface ForgetOptions extends ForgetPlanOptions, OperationOptions {
  dryRun?: boolean;
  /** unreadable snapshot files are skipped with a warning, as in restic */
  warn?: (line: string) => void;
}

/** What forget() kept and removed, per group. */
export interface ForgetResult {
  groups: ForgetGroup[];
  /** IDs removed (or, with dryRun, that would be removed) */
  removed: string[];
}

/**
 * Apply a policy to a repository's snapshots and delete what it removes, under an exclusive
 * lock as restic takes for forget.
 *
 * @example
 * ```ts
 * const { removed } = await forget(repo, { policy: { last: 7 } });
 * ```
 */
export async function forget(repo: Repository, opts: ForgetOptions): Promise<ForgetResult> {
  checkRepository(repo, 'forget');
  checkArg(typeof opts === 'object' && opts !== null, 'forget', 'an options object with a policy', opts);
  return repo.runLocked('forget', true, opts, () => forgetLocked(repo, opts));
}

async function forgetLocked(repo: Repository, opts: ForgetOptions): Promise<ForgetResult> {
  opts.signal?.throwIfAborted();
  const groups = await planForgetAsync(await loadSnapshots(repo, opts.warn), opts);
  const removed = removedIds(groups);
  opts.signal?.throwIfAborted();
  if (!opts.dryRun) await deleteSnapshots(repo, removed);
  return { groups, removed };
}
