import { UsageError } from '../errors.js';
import path from 'node:path';
import { prestartRestore, restore, type RestoreItem, type RestoreStats } from '../restorer/restorer.js';
import { parseOverwrite } from '../restorer/overwrite.js';
import { resticFormatBytes } from '../ui/format.js';
import { goTimeString } from '../go/time.js';
import { goList } from '../walker/select.js';
import type { Command } from './command.js';
import { formatDuration } from '../ui/duration.js';
import { type GlobalContext, lockOptions, openRepository } from './global.js';
import { StatusLine, formatPercent, progressInterval, rateAndEta } from '../ui/progress.js';

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Extract the data from a snapshot',
  usage: 'restic-ts restore [flags] snapshotID',
  options: [
    { name: 'target', short: 't', kind: 'string', help: 'directory to extract data to' },
    { name: 'include', short: 'i', kind: 'list', help: 'include a pattern, exclude everything else (can be specified multiple times)' },
    { name: 'exclude', short: 'e', kind: 'list', help: 'exclude a pattern (can be specified multiple times)' },
    { name: 'verify', kind: 'bool', help: 'verify restored files content' },
    { name: 'dry-run', kind: 'bool', help: 'do not write any data, just show what would be done' },
    { name: 'overwrite', kind: 'string', help: 'overwrite behavior, one of (always|if-changed|if-newer|never) (default: always)' },
    {
      name: 'delete',
      kind: 'bool',
      help: "delete files from target directory if they do not exist in snapshot. Use '--dry-run -vv' to check what would be deleted",
    },
  ],
  async run(ctx, args) {
    if (args.length !== 1) throw new UsageError('no snapshot ID specified');
    const target = ctx.opts['target'] as string | undefined;
    if (!target) throw new UsageError('please specify a directory to restore to (--target)');
    const [spec, subfolder] = args[0]!.split(/:(.*)/s) as [string, string | undefined];
    const dryRun = !!ctx.opts['dry-run'];
    if (dryRun && ctx.opts['verify']) throw new UsageError('--dry-run and --verify are mutually exclusive');
    const filtered = !!(ctx.opts['include'] || ctx.opts['exclude']);
    if (ctx.opts['delete'] && path.resolve(target) === '/' && !filtered)
      throw new UsageError("'--target / --delete' must be combined with an include or exclude filter");
    const overwrite = parseOverwrite((ctx.opts['overwrite'] as string | undefined) ?? 'always');
    // the lock's first look, the index and snapshot names are listed while scrypt runs
    const repo = await openRepository(ctx, { listEarly: ctx.opts['no-lock'] ? ['index', 'snapshot'] : ['lock', 'index', 'snapshot'] });
    const started = Date.now();
    const line = !ctx.json && !ctx.quiet && StatusLine.available() ? new StatusLine() : undefined;
    // Workers and the index load while the lock is written.
    prestartRestore(repo);
    repo.prefetchIndex();
    // The lock is taken while the index, the snapshot and the first packs are read; the
    // target is written once it is held.
    const stats = await restore(repo, spec, target, {
      signal: ctx.signal,
      lock: ctx.opts['no-lock'] ? false : undefined,
      lockOptions: lockOptions(ctx),
      subfolder,
      include: ctx.opts['include'] as string[] | undefined,
      exclude: ctx.opts['exclude'] as string[] | undefined,
      verify: !!ctx.opts['verify'],
      dryRun,
      overwrite,
      delete: !!ctx.opts['delete'],
      onStart: (id, snapshot) => {
        if (ctx.json || ctx.quiet) return;
        ctx.stdout(
          `restoring snapshot ${id.slice(0, 8)} of ${goList(snapshot.paths)} at ${goTimeString(snapshot.time)} by ${snapshot.username ?? ''}@${snapshot.hostname} to ${target}\n`,
        );
      },
      onItem: itemPrinter(ctx, line),
      onProgress: progressReporter(ctx, started, line),
      progressInterval: progressInterval(ctx.env),
      onWarning: (w) => {
        line?.clear();
        if (ctx.json)
          ctx.stderr(JSON.stringify({ message_type: 'error', error: { message: w.message }, during: 'restore', item: w.path }) + '\n');
        else ctx.stderr(`ignoring error for ${w.path}: ${w.message}\n`);
      },
    });
    line?.clear();
    const seconds = (Date.now() - started) / 1000;
    if (ctx.json) ctx.stdout(JSON.stringify(restoreJson('summary', stats, seconds)) + '\n');
    else if (!ctx.quiet) {
      ctx.stdout(summaryText(stats, seconds) + '\n');
      if (ctx.opts['verify']) ctx.stdout(`verified ${stats.verified} files in ${target}\n`);
    }
    await repo.close();
    if (stats.errors) {
      if (!ctx.json) ctx.stderr(`Fatal: There were ${stats.errors} errors\n`);
      else ctx.stderr(JSON.stringify({ message_type: 'exit_error', code: 1, message: `There were ${stats.errors} errors` }) + '\n');
      return 1;
    }
    return 0;
  },
};

/** restic 0.17's restore status/summary objects (zero counts are omitted, as Go's omitempty does). */
function restoreJson(type: 'status' | 'summary', s: Readonly<RestoreStats>, seconds: number): Record<string, unknown> {
  const o: Record<string, unknown> = { message_type: type };
  const put = (k: string, v: number) => {
    if (v) o[k] = v;
  };
  put('seconds_elapsed', Math.floor(seconds));
  if (type === 'status') o.percent_done = s.bytes > 0 ? s.bytesWritten / s.bytes : 0;
  put('total_files', s.nodesTotal);
  put('files_restored', s.nodesDone);
  put('files_skipped', s.filesSkipped);
  put('files_deleted', s.filesDeleted);
  put('total_bytes', s.bytes);
  put('bytes_restored', s.bytesWritten);
  put('bytes_skipped', s.bytesSkipped);
  return o;
}

/** restic's -vv item lines ("restored  /path with size 5 B") and JSON `verbose_status` messages. */
function itemPrinter(ctx: GlobalContext, line: StatusLine | undefined): ((item: RestoreItem) => void) | undefined {
  if (ctx.quiet || ((ctx.opts['verbose'] as number | undefined) ?? 0) < 2) return undefined;
  return (item) => {
    line?.clear();
    if (ctx.json) {
      ctx.stdout(JSON.stringify({ message_type: 'verbose_status', action: item.action, item: item.path, size: item.size }) + '\n');
      return;
    }
    const head = `${item.action.padEnd(9)} ${item.path}`;
    ctx.stdout(item.type === 'file' ? `${head} with size ${resticFormatBytes(item.size)}\n` : `${head}\n`);
  };
}

/** restic 0.17's closing line (with 0.18's skipped and deleted counts). */
function summaryText(s: Readonly<RestoreStats>, seconds: number): string {
  const took = formatDuration(seconds * 1000);
  let text =
    s.nodesDone === s.nodesTotal && s.bytesWritten === s.bytes
      ? `Summary: Restored ${s.nodesTotal} files/dirs (${resticFormatBytes(s.bytes)}) in ${took}`
      : `Summary: Restored ${s.nodesDone} / ${s.nodesTotal} files/dirs (${resticFormatBytes(s.bytesWritten)} / ${resticFormatBytes(s.bytes)}) in ${took}`;
  if (s.filesSkipped > 0) text += `, skipped ${s.filesSkipped} files/dirs ${resticFormatBytes(s.bytesSkipped)}`;
  if (s.filesDeleted > 0) text += `, deleted ${s.filesDeleted} files/dirs`;
  return text;
}

/** JSON status lines under --json, a live line on a terminal, nothing on a plain pipe. */
function progressReporter(
  ctx: GlobalContext,
  started: number,
  line: StatusLine | undefined,
): ((s: Readonly<RestoreStats>) => void) | undefined {
  if (ctx.quiet) return undefined;
  if (ctx.json) return (s) => ctx.stdout(JSON.stringify(restoreJson('status', s, (Date.now() - started) / 1000)) + '\n');
  if (!line) return undefined;
  return (s) => {
    const seconds = (Date.now() - started) / 1000;
    const pct = formatPercent(s.bytesWritten, s.bytes);
    line.update(
      `[${formatDuration(seconds * 1000)}] ${pct ? pct + '  ' : ''}${s.nodesDone} files/dirs ${resticFormatBytes(s.bytesWritten)}, total ${s.nodesTotal} files/dirs ${resticFormatBytes(s.bytes)}` +
        rateAndEta(s.bytesWritten, s.bytes, seconds) +
        (s.filesSkipped > 0 ? `, skipped ${s.filesSkipped} files/dirs ${resticFormatBytes(s.bytesSkipped)}` : '') +
        (s.filesDeleted > 0 ? `, deleted ${s.filesDeleted} files/dirs` : ''),
    );
  };
}
