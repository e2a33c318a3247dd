import os from 'node:os';
import { UsageError, ExitCode } from '../errors.js';
import { Archiver, type BackupItem, type BackupProgress, type BackupResult, type BackupWarning } from '../archiver/archiver.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { backupEntries } from '../archiver/virtual.js';
import { type ExcludeOptions, readPatternFile } from '../archiver/exclude.js';
import { parseSize } from '../go/size.js';
import path from 'node:path';
import { formatDuration } from '../ui/duration.js';
import { Scanner, StatusLine, formatPercent, progressInterval, rateAndEta } from '../ui/progress.js';
import { resticFormatBytes } from '../ui/format.js';
import { VERSION } from '../version.js';

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Create a new backup of files and/or directories',
  usage: 'restic-ts backup [flags] FILE/DIR [FILE/DIR] ...',
  options: [
    { name: 'host', short: 'H', kind: 'string', help: 'set the hostname for the snapshot manually', env: 'RESTIC_HOST' },
    { name: 'tag', kind: 'list', help: 'add tags for the new snapshot in the format `tag[,tag,...]` (can be specified multiple times)' },
    {
      name: 'parent',
      kind: 'string',
      help: 'use this parent snapshot (default: last snapshot in the repository that has the same target files/directories, and is not newer than the snapshot time)',
    },
    { name: 'force', short: 'f', kind: 'bool', help: 'force re-reading the target files/directories (overrides the "parent" flag)' },
    { name: 'exclude', short: 'e', kind: 'list', help: 'exclude a pattern (can be specified multiple times)' },
    { name: 'iexclude', kind: 'list', help: 'same as --exclude pattern but ignores the casing of filenames' },
    { name: 'exclude-file', kind: 'list', help: 'read exclude patterns from a file (can be specified multiple times)' },
    { name: 'iexclude-file', kind: 'list', help: 'same as --exclude-file but ignores casing of filenames in patterns' },
    { name: 'exclude-caches', kind: 'bool', help: 'excludes cache directories that are marked with a CACHEDIR.TAG file' },
    {
      name: 'exclude-if-present',
      kind: 'list',
      help: 'takes filename[:header], exclude contents of directories containing filename (except filename itself) if header of that file is as provided (can be specified multiple times)',
    },
    { name: 'exclude-larger-than', kind: 'string', help: 'max size of the files to be backed up (allowed suffixes: k/K, m/M, g/G, t/T)' },
    {
      name: 'one-file-system',
      short: 'x',
      kind: 'bool',
      help: "exclude other file systems, don't cross filesystem boundaries and subvolumes",
    },
    { name: 'stdin', kind: 'bool', help: 'read backup from stdin' },
    { name: 'stdin-filename', kind: 'string', help: 'filename to use when reading from stdin (default "stdin")' },
    { name: 'time', kind: 'string', help: "time of the backup (ex. '2012-11-01 22:08:41') (default: now)" },
  ],
  async run(ctx, args) {
    if (ctx.opts['stdin']) return backupStdin(ctx, args);
    if (!args.length) throw new UsageError('nothing to backup, please specify target files/dirs');
    const repo = await openRepository(ctx);
    const started = Date.now();
    const tags = ((ctx.opts['tag'] as string[] | undefined) ?? []).flatMap((t) => t.split(',')).filter(Boolean);
    const line = !ctx.json && !ctx.quiet && StatusLine.available() ? new StatusLine() : undefined;
    const scanner = line ? new Scanner() : undefined;
    scanner?.start(args);
    const archiver = new Archiver(repo, {
      hostname: (ctx.opts['host'] as string | undefined) ?? ctx.env.RESTIC_HOST ?? os.hostname(),
      tags,
      time: parseTimeFlag(ctx.opts['time'] as string | undefined),
      programVersion: `restic-ts ${VERSION}`,
      parent: ctx.opts['force'] ? false : (ctx.opts['parent'] as string | undefined),
      excludes: excludeOptions(ctx),
      onProgress: progressReporter(ctx, line, scanner),
      progressInterval: progressInterval(ctx.env),
      onItem: verbosity(ctx) >= 3 ? (item) => verboseItem(ctx, item, line) : undefined,
      onWarning: warningPrinter(ctx, line),
      onFileChanged: (c) => {
        line?.clear();
        ctx.stderr(`warning for ${c.path}: expected ${c.expected} bytes, saved ${c.saved} bytes\n`);
      },
    });
    // Read index and snapshots while the lock settles (restic waits 200 ms after writing it);
    // the archiver re-lists both under the lock and keeps only what is unchanged.
    repo.prefetchIndex();
    repo.prefetchSnapshots();
    const result = await withLock(ctx, repo, false, () => archiver.run(args), { honourNoLock: false }).finally(() => scanner?.stop());
    line?.clear();
    printSummary(ctx, result, (Date.now() - started) / 1000);
    await repo.close();
    return result.warnings.length ? ExitCode.Incomplete : ExitCode.OK;
  },
};

/** Problems with single items: reported and counted, the backup goes on. */
function warningPrinter(ctx: GlobalContext, line: StatusLine | undefined): (w: BackupWarning) => void {
  return (w) => {
    line?.clear();
    if (ctx.json)
      ctx.stderr(JSON.stringify({ message_type: 'error', error: { message: w.message }, during: 'archival', item: w.path }) + '\n');
    else ctx.stderr(`error: ${w.path}: ${w.message}\n`);
  };
}

/** restic's summary: a JSON `summary` message, or the text block ending with the snapshot ID. */
function printSummary(ctx: GlobalContext, result: BackupResult, elapsed: number): void {
  const s = result.stats;
  if (ctx.json) {
    ctx.stdout(
      JSON.stringify({
        message_type: 'summary',
        files_new: s.filesNew,
        files_changed: s.filesChanged,
        files_unmodified: s.filesUnmodified,
        dirs_new: s.dirsNew,
        dirs_changed: s.dirsChanged,
        dirs_unmodified: s.dirsUnmodified,
        data_blobs: s.dataBlobs,
        tree_blobs: s.treeBlobs,
        data_added: s.dataAdded,
        data_added_packed: s.dataAddedStored,
        total_files_processed: s.totalFilesProcessed,
        total_bytes_processed: s.totalBytesProcessed,
        total_duration: elapsed,
        snapshot_id: result.snapshotId,
      }) + '\n',
    );
    return;
  }
  if (ctx.quiet) return;
  const n = (v: number) => String(v).padStart(5);
  ctx.stdout(`\nFiles:       ${n(s.filesNew)} new, ${n(s.filesChanged)} changed, ${n(s.filesUnmodified)} unmodified\n`);
  ctx.stdout(`Dirs:        ${n(s.dirsNew)} new, ${n(s.dirsChanged)} changed, ${n(s.dirsUnmodified)} unmodified\n`);
  if (verbosity(ctx) >= 2) {
    ctx.stdout(`Data Blobs:  ${n(s.dataBlobs)} new\n`);
    ctx.stdout(`Tree Blobs:  ${n(s.treeBlobs)} new\n`);
  }
  ctx.stdout(
    `Added to the repository: ${resticFormatBytes(s.dataAdded).padEnd(5)} (${resticFormatBytes(s.dataAddedStored).padEnd(5)} stored)\n\n`,
  );
  ctx.stdout(
    `processed ${s.totalFilesProcessed} files, ${resticFormatBytes(s.totalBytesProcessed)} in ${formatDuration(elapsed * 1000)}\n`,
  );
  ctx.stdout(`snapshot ${result.snapshotId.slice(0, 8)} saved\n`);
  ctx.stdout(backupIdLine(result.snapshotId));
}

/** chectl's last line (`server:backup`), for scripts that read the short ID from there. */
function backupIdLine(snapshotId: string): string {
  return `Backup snapshot ID: ${snapshotId.slice(0, 8)}\n`;
}

/** restic's verbosity: 0 with --quiet, 1 by default, more with -v. */
function verbosity(ctx: GlobalContext): number {
  if (ctx.quiet) return 0;
  return 1 + ((ctx.opts['verbose'] as number | undefined) ?? 0);
}

/** restic's -vv lines (verbosity 3): "new       /path, saved in 0.001s (6 B added)", "unchanged /dir/". */
function verboseItem(ctx: GlobalContext, item: BackupItem, line: StatusLine | undefined): void {
  line?.clear();
  if (ctx.json) {
    ctx.stdout(
      JSON.stringify({
        message_type: 'verbose_status',
        action: item.action,
        item: item.path,
        duration: item.seconds,
        data_size: item.added,
      }) + '\n',
    );
    return;
  }
  const verb = item.action === 'modified' ? 'modified ' : item.action.padEnd(9);
  if (item.action === 'unchanged') ctx.stdout(`${verb} ${item.path}\n`);
  else ctx.stdout(`${verb} ${item.path}, saved in ${item.seconds.toFixed(3)}s (${resticFormatBytes(item.added)} added)\n`);
}

/** A live line on a terminal; JSON status lines under --json; nothing on a plain pipe. */
function progressReporter(
  ctx: GlobalContext,
  line: StatusLine | undefined,
  scanner: Scanner | undefined,
): ((p: BackupProgress) => void) | undefined {
  if (ctx.quiet) return undefined;
  if (ctx.json) {
    return (p) =>
      ctx.stdout(
        JSON.stringify({
          message_type: 'status',
          seconds_elapsed: Math.floor(p.secondsElapsed),
          files_done: p.filesDone,
          bytes_done: p.bytesDone,
          current_files: p.currentFile ? [p.currentFile] : [],
        }) + '\n',
      );
  }
  if (!line) return undefined;
  return (p) => {
    const elapsed = `[${formatDuration(p.secondsElapsed * 1000)}]`;
    const total = scanner?.done ? scanner : undefined;
    if (!total) {
      line.update(
        `${elapsed} ${p.filesDone} files, ${resticFormatBytes(p.bytesDone)}` +
          rateAndEta(p.bytesDone, undefined, p.secondsElapsed) +
          (p.currentFile ? ` ${p.currentFile}` : ''),
      );
      return;
    }
    const pct = formatPercent(p.bytesDone, total.bytes);
    line.update(
      `${elapsed} ${pct ? pct + '  ' : ''}${p.filesDone} files ${resticFormatBytes(p.bytesDone)}, total ${total.files} files ${resticFormatBytes(total.bytes)}` +
        rateAndEta(p.bytesDone, total.bytes, p.secondsElapsed) +
        (p.currentFile ? ` ${p.currentFile}` : ''),
    );
  };
}

function excludeOptions(ctx: GlobalContext): ExcludeOptions {
  const list = (k: string) => (ctx.opts[k] as string[] | undefined) ?? [];
  const larger = ctx.opts['exclude-larger-than'] as string | undefined;
  return {
    exclude: [...list('exclude'), ...list('exclude-file').flatMap((f) => readPatternFile(f, ctx.env))],
    iexclude: [...list('iexclude'), ...list('iexclude-file').flatMap((f) => readPatternFile(f, ctx.env))],
    excludeIfPresent: list('exclude-if-present'),
    excludeCaches: !!ctx.opts['exclude-caches'],
    excludeLargerThan: larger ? parseSize(larger) : undefined,
    oneFileSystem: !!ctx.opts['one-file-system'],
  };
}

/** `backup --stdin`: the data read from standard input becomes one file in the snapshot. */
async function backupStdin(ctx: GlobalContext, args: string[]): Promise<number> {
  if (args.length) throw new UsageError('--stdin was specified and files/dirs were listed as arguments');
  const name = (ctx.opts['stdin-filename'] as string | undefined) ?? 'stdin';
  if (!name || (name.includes('/') && path.posix.normalize(name).startsWith('..')))
    throw new UsageError(`invalid --stdin-filename ${JSON.stringify(name)}`);
  const repo = await openRepository(ctx);
  const tags = ((ctx.opts['tag'] as string[] | undefined) ?? []).flatMap((t) => t.split(',')).filter(Boolean);
  const rel = path.posix.normalize(name).replace(/^\/+/, '');
  const result = await withLock(
    ctx,
    repo,
    false,
    () =>
      backupEntries(repo, [{ path: rel, content: process.stdin, mode: 0o644 }], {
        hostname: (ctx.opts['host'] as string | undefined) ?? ctx.env.RESTIC_HOST ?? os.hostname(),
        tags,
        time: parseTimeFlag(ctx.opts['time'] as string | undefined),
        paths: ['/' + rel],
        programVersion: `restic-ts ${VERSION}`,
      }),
    { honourNoLock: false },
  );
  if (ctx.json) {
    ctx.stdout(
      JSON.stringify({
        message_type: 'summary',
        files_new: 1,
        total_files_processed: 1,
        total_bytes_processed: result.bytes,
        snapshot_id: result.snapshotId,
      }) + '\n',
    );
  } else if (!ctx.quiet) {
    ctx.stdout(`processed 1 files, ${resticFormatBytes(result.bytes)}\nsnapshot ${result.snapshotId.slice(0, 8)} saved\n`);
    ctx.stdout(backupIdLine(result.snapshotId));
  }
  await repo.close();
  return 0;
}

/** restic's --time format "2006-01-02 15:04:05" in the local zone, to a Go time string. */
function parseTimeFlag(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(v);
  if (!m) throw new UsageError(`unable to parse time ${JSON.stringify(v)}, expected format "2006-01-02 15:04:05"`);
  const d = new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const z =
    off === 0 ? 'Z' : `${sign}${String(Math.floor(Math.abs(off) / 60)).padStart(2, '0')}:${String(Math.abs(off) % 60).padStart(2, '0')}`;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${z}`;
}
