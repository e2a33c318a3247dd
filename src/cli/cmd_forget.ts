/** `forget`: remove snapshots by policy or by ID, with restic 0.14's flags, text and JSON. */
import { UsageError, throwIfAborted } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import type { OptionSpec } from './args.js';
import type { Command } from './command.js';
import { type GlobalContext, lockOptions, openRepository } from './global.js';
import { snapshotSelector, warn } from './read-common.js';
import { PRUNE_OPTIONS, pruneOptionsFromFlags, runPruneWithOutput } from './prune-run.js';
import { compareGoTimes } from '../go/time.js';
import { formatLocalTime } from '../ui/format.js';
import { formatDuration } from '../ui/duration.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { type Duration, parseDuration } from '../forget/duration.js';
import { type ExpirePolicy, type KeepReason, type SnapshotEntry, formatPolicy, isEmptyPolicy } from '../forget/policy.js';
import { type ForgetGroup, deleteSnapshots, forgetJson, planForgetAsync, removedIds } from '../forget/forget.js';
import { parseGroupByOptions } from '../forget/group.js';
import { loadSnapshots, parseTagListFlags } from '../forget/tags.js';

const COUNT_FLAGS = [
  ['keep-last', 'l', 'last', 'keep the last n snapshots'],
  ['keep-hourly', 'H', 'hourly', 'keep the last n hourly snapshots'],
  ['keep-daily', 'd', 'daily', 'keep the last n daily snapshots'],
  ['keep-weekly', 'w', 'weekly', 'keep the last n weekly snapshots'],
  ['keep-monthly', 'm', 'monthly', 'keep the last n monthly snapshots'],
  ['keep-yearly', 'y', 'yearly', 'keep the last n yearly snapshots'],
] as const;

const WITHIN_FLAGS = [
  ['keep-within', 'within', 'keep snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot'],
  [
    'keep-within-hourly',
    'withinHourly',
    'keep hourly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot',
  ],
  ['keep-within-daily', 'withinDaily', 'keep daily snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot'],
  [
    'keep-within-weekly',
    'withinWeekly',
    'keep weekly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot',
  ],
  [
    'keep-within-monthly',
    'withinMonthly',
    'keep monthly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot',
  ],
  [
    'keep-within-yearly',
    'withinYearly',
    'keep yearly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot',
  ],
] as const;

export const forgetCommand: Command = {
  name: 'forget',
  summary: 'Remove snapshots from the repository',
  usage: 'restic-ts forget [flags] [snapshot ID] [...]',
  options: [
    ...COUNT_FLAGS.map(([name, short, , help]): OptionSpec => ({ name, short, kind: 'string', help })),
    ...WITHIN_FLAGS.map(([name, , help]): OptionSpec => ({ name, kind: 'string', help })),
    { name: 'keep-tag', kind: 'list', help: 'keep snapshots with this taglist (can be specified multiple times)' },
    { name: 'unsafe-allow-remove-all', kind: 'bool', help: 'allow deleting all snapshots of a snapshot group' },
    { name: 'host', kind: 'list', help: 'only consider snapshots with the given host (can be specified multiple times)' },
    { name: 'hostname', kind: 'list', help: 'only consider snapshots with the given hostname (deprecated: use --host)' },
    {
      name: 'tag',
      kind: 'list',
      help: 'only consider snapshots which include this taglist in the format tag[,tag,...] (can be specified multiple times)',
    },
    { name: 'path', kind: 'list', help: 'only consider snapshots which include this (absolute) path (can be specified multiple times)' },
    { name: 'compact', short: 'c', kind: 'bool', help: 'use compact output format' },
    {
      name: 'group-by',
      short: 'g',
      kind: 'string',
      help: 'group snapshots by host, paths and/or tags, separated by comma (disable grouping with \'\') (default "host,paths")',
    },
    { name: 'dry-run', short: 'n', kind: 'bool', help: 'do not delete anything, just print what would be done' },
    { name: 'prune', kind: 'bool', help: "automatically run the 'prune' command if snapshots have been removed" },
    ...PRUNE_OPTIONS,
  ],
  async run(ctx, args) {
    const policy = policyFromFlags(ctx);
    if (ctx.opts['hostname'] !== undefined) ctx.stderr('Flag --hostname has been deprecated, use --host\n');
    const groupBy = parseGroupByOptions((ctx.opts['group-by'] as string | undefined) ?? 'host,paths');
    const dryRun = !!ctx.opts['dry-run'];
    const noLock = !!ctx.opts['no-lock'];
    const doPrune = !!ctx.opts['prune'];
    // Validate prune's flags before anything is deleted.
    const pruneOpts = doPrune ? pruneOptionsFromFlags(ctx) : null;
    const repo = await openRepository(ctx);
    try {
      if (noLock && !dryRun) throw new UsageError('--no-lock is only applicable in combination with --dry-run for forget command');
      const release = dryRun && noLock ? null : await repo.lock(true, lockOptions(ctx));
      try {
        const removed = await runForget(ctx, repo, args, policy, groupBy, dryRun);
        if (removed.length && pruneOpts) {
          if (!ctx.json && !ctx.quiet) ctx.stdout(`${removed.length} snapshots have been removed, running prune\n`);
          await runPruneWithOutput(ctx, repo, { ...pruneOpts, dryRun, ignoreSnapshots: new Set(removed) });
        }
      } finally {
        await release?.();
      }
    } finally {
      await repo.close();
    }
    return 0;
  },
};

function intFlag(ctx: GlobalContext, name: string, short: string): number {
  const v = ctx.opts[name] as string | undefined;
  if (v === undefined) return 0;
  if (!/^[+-]?\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(
      `invalid argument ${JSON.stringify(v)} for "-${short}, --${name}" flag: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`,
    );
  }
  return Number(v);
}

function durationFlag(ctx: GlobalContext, name: string): Duration | undefined {
  const v = ctx.opts[name] as string | undefined;
  if (v === undefined) return undefined;
  try {
    return parseDuration(v);
  } catch (err) {
    throw new UsageError(`invalid argument ${JSON.stringify(v)} for "--${name}" flag: ${(err as Error).message}`);
  }
}

export function policyFromFlags(ctx: GlobalContext): ExpirePolicy {
  const p: ExpirePolicy = {};
  for (const [name, short, key] of COUNT_FLAGS) p[key] = intFlag(ctx, name, short);
  for (const [name, key] of WITHIN_FLAGS) p[key] = durationFlag(ctx, name);
  const keepTags = parseTagListFlags(ctx.opts['keep-tag'] as string[] | undefined);
  if (keepTags.length) p.tags = keepTags;
  return p;
}

async function runForget(
  ctx: GlobalContext,
  repo: Repository,
  args: string[],
  policy: ExpirePolicy,
  groupBy: ReturnType<typeof parseGroupByOptions>,
  dryRun: boolean,
): Promise<string[]> {
  const filter = {
    ...snapshotSelector(ctx),
    hosts: [...((ctx.opts['host'] as string[] | undefined) ?? []), ...((ctx.opts['hostname'] as string[] | undefined) ?? [])],
  };
  const say = (s: string) => {
    if (!ctx.quiet) ctx.stdout(s);
  };
  let remove: string[];
  let groups: ForgetGroup[] = [];
  if (args.length) {
    // explicit IDs are removed as they are, without a policy
    remove = (await findFilteredSnapshots(repo, filter, args, (m) => warn(ctx, m))).map((e) => e.id);
  } else {
    const all = await loadSnapshots(repo, (m) => warn(ctx, m));
    const unsafeAllowRemoveAll = !!ctx.opts['unsafe-allow-remove-all'];
    // restic ≥ 0.17: an empty policy is an error (0.14 printed this line and exited 0)
    if (isEmptyPolicy(policy) && !unsafeAllowRemoveAll) throw new UsageError('no policy was specified, no snapshots will be removed');
    groups = await planForgetAsync(all, { policy, groupBy, filter, unsafeAllowRemoveAll, signal: ctx.signal });
    if (!ctx.json) say(`Applying Policy: ${formatPolicy(policy)}\n`);
    if (!ctx.json) await printGroups(ctx, groups);
    remove = removedIds(groups);
  }
  if (remove.length) {
    if (!dryRun) {
      throwIfAborted(ctx.signal, 'forget');
      const started = Date.now();
      await deleteSnapshots(repo, remove);
      // restic's progress counter prints its final state (without a terminal: one line)
      if (!ctx.json && !ctx.quiet)
        ctx.stdout(`[${formatDuration(Date.now() - started)}] 100.00%  ${remove.length} / ${remove.length} files deleted\n\n`);
    } else if (!ctx.json)
      ctx.stdout(
        `Would have removed the following snapshots:\n{${[...remove]
          .sort()
          .map((id) => id.slice(0, 8))
          .join(' ')}}\n\n`,
      );
  }
  if (ctx.json && groups.length) ctx.stdout(forgetJson(groups));
  return remove;
}

/** An event-loop turn (a signal is handled), then stop if it came. */
function pauser(signal: AbortSignal | undefined): () => Promise<void> {
  return async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    throwIfAborted(signal, 'forget');
  };
}

/** Tables built with event-loop turns between groups and within long tables, so a signal is handled. */
async function printGroups(ctx: GlobalContext, groups: ForgetGroup[]): Promise<void> {
  const pause = pauser(ctx.signal);
  const compact = !!ctx.opts['compact'];
  const verbose = ((ctx.opts['verbose'] as number | undefined) ?? 0) > 0;
  for (const g of [...groups].sort((a, b) => (a.keyJson < b.keyJson ? -1 : a.keyJson > b.keyJson ? 1 : 0))) {
    throwIfAborted(ctx.signal, 'forget');
    if (verbose) ctx.stdout(groupHeader(g));
    if (ctx.quiet) continue;
    await pause();
    if (g.keep.length)
      writeLines(ctx, [`keep ${g.keep.length} snapshots:`, ...(await snapshotTable(g.keep, g.reasons, compact, pause)), '']);
    await pause();
    if (g.remove.length)
      writeLines(ctx, [`remove ${g.remove.length} snapshots:`, ...(await snapshotTable(g.remove, [], compact, pause)), '']);
  }
}

/** Lines joined into writes of at most ~64 MiB: one string of them all may be too long for V8. */
function writeLines(ctx: GlobalContext, lines: string[]): void {
  let chunk = '';
  for (const l of lines) {
    if (chunk.length + l.length > 64 * 1024 * 1024) {
      ctx.stdout(chunk);
      chunk = '';
    }
    chunk += l + '\n';
  }
  if (chunk) ctx.stdout(chunk);
}

/** restic's PrintSnapshotGroupHeader. */
function groupHeader(g: ForgetGroup): string {
  const { hostname, tags, paths } = g.key;
  if (hostname === '' && tags === null && paths === null) return '';
  const info: string[] = [];
  if (hostname !== '') info.push(`host [${hostname}]`);
  if (tags !== null) info.push(`tags [${tags.join(', ')}]`);
  if (paths !== null) info.push(`paths [${paths.join(', ')}]`);
  return `snapshots for (${info.join(', ')}):\n`;
}

const byteLen = (s: string) => Buffer.byteLength(s, 'utf8');

/** s without trailing spaces; a regex /  +$/ is quadratic in a long run of inner spaces. */
function trimSpaces(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x20) end--;
  return s.slice(0, end);
}

/**
 * restic's PrintSnapshots table: oldest first, local times, reasons column when given. Line
 * by line: with millions of tags the whole table exceeds V8's longest string.
 */
async function snapshotTable(
  list: SnapshotEntry[],
  reasons: KeepReason[],
  compact: boolean,
  pause: () => Promise<void>,
): Promise<string[]> {
  const why = new Map(reasons.map((r) => [r.entry.id, r.matches]));
  const rows = [...list].sort((a, b) => compareGoTimes(a.snapshot.time, b.snapshot.time));
  const cols: Array<[string, (e: SnapshotEntry) => string]> = compact
    ? [
        ['ID', (e) => e.id.slice(0, 8)],
        ['Time', (e) => formatLocalTime(e.snapshot.time)],
        ['Host', (e) => e.snapshot.hostname ?? ''],
        ['Tags  ', (e) => (e.snapshot.tags ?? []).join('\n')],
      ]
    : [
        ['ID', (e) => e.id.slice(0, 8)],
        ['Time', (e) => formatLocalTime(e.snapshot.time)],
        ['Host      ', (e) => e.snapshot.hostname ?? ''],
        ['Tags      ', (e) => (e.snapshot.tags ?? []).join(',')],
        ...(reasons.length
          ? [['Reasons', (e: SnapshotEntry) => (why.get(e.id) ?? []).join('\n')] as [string, (e: SnapshotEntry) => string]]
          : []),
        ['Paths', (e) => e.snapshot.paths.join('\n')],
      ];
  const cells = rows.map((e) => cols.map(([, f]) => f(e).split('\n')));
  // loops, not Math.max(...list): a cell may hold millions of tags
  const widths = cols.map(([h]) => byteLen(h));
  for (const r of cells) r.forEach((f, c) => f.forEach((l) => (widths[c] = Math.max(widths[c]!, byteLen(l)))));
  const total = widths.reduce((a, b) => a + b, 0) + (cols.length - 1) * 2;
  let turn = performance.now();
  const lines = async (fields: string[][]) => {
    const n = fields.reduce((m, f) => Math.max(m, f.length), 1);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      if ((i & 0xfff) === 0 && performance.now() - turn > 20) {
        await pause();
        turn = performance.now();
      }
      const last = fields.reduce((l, f, c) => (f[i] ? c : l), -1);
      let s = '';
      for (let c = 0; c <= last; c++) {
        const v = fields[c]![i] ?? '';
        s += (c > 0 ? '  ' : '') + v + (c < last ? ' '.repeat(Math.max(0, widths[c]! - byteLen(v))) : '');
      }
      out.push(trimSpaces(s));
    }
    return out;
  };
  const multiline = !compact && rows.some((e) => e.snapshot.paths.length > 1);
  const text = [...(await lines(cols.map(([h]) => [h]))), '-'.repeat(total)];
  for (let idx = 0; idx < cells.length; idx++) {
    if (multiline && idx > 0) text.push('');
    for (const l of await lines(cells[idx]!)) text.push(l);
  }
  text.push('-'.repeat(total), `${rows.length} snapshots`);
  return text;
}
