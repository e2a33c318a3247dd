import fs from 'node:fs';
import os from 'node:os';
import { UsageError, ExitCode } from '../errors.js';
import type { Archiver, BackupItem, BackupProgress, BackupResult, BackupWarning, FileChanged } from '../archiver/archiver.js';
import type { Command } from './command.js';
import { type GlobalContext, compressionOption, memoryLimitOption, openRepository, withLock, withOverlappedLock } from './global.js';
import type { Repository } from '../repository/repository.js';
import type { BlobWorkerSpares } from '../parallel/blob-pool.js';
import { memoryBudget, resolveMemoryLimit } from '../parallel/memory-budget.js';
import { removeStaleTempFiles } from '../repository/temp-files.js';
import { type ExcludeOptions, readPatternFile } from '../archiver/exclude.js';
import { parseSize } from '../go/size.js';
import path from 'node:path';
import { formatDuration } from '../ui/duration.js';
import { StatusLine, formatPercent, progressInterval, rateAndEta } from '../ui/progress.js';
import type { ScanStats } from '../archiver/scanner.js';
import { resticFormatBytes } from '../ui/format.js';
import { VERSION } from '../version.js';
import { BACKUP_PARITY_OPTIONS, changeDetectionOptions, checkStdinCombinations, collectTargets, commandOutput } from './backup-parity.js';
import { nowGoTime } from '../go/time.js';
import { goMarshal } from '../go/json-string.js';
import type { SnapshotSummary } from '../format/snapshot.js';

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
    ...BACKUP_PARITY_OPTIONS,
  ],
  async run(ctx, args) {
    checkStdinCombinations(ctx, args);
    if (ctx.opts['stdin'] || ctx.opts['stdin-from-command']) return backupStdin(ctx, args);
    args = collectTargets(ctx, args);
    if (!args.length) throw new UsageError('nothing to backup, please specify target files/dirs');
    const dryRun = !!ctx.opts['dry-run'];
    compressionOption(ctx); // restic rejects a bad --compression while parsing flags, before the targets
    const targets = filterExisting(ctx, args);
    const backupStart = nowGoTime();
    const say = printer(ctx);
    say(2, 'open repository');
    const { repo, Archiver } = await openForBackup(ctx, dryRun, targets);
    const started = Date.now();
    const line = !ctx.json && !ctx.quiet && StatusLine.available() ? new StatusLine() : undefined;
    const newArchiver = (signal: AbortSignal | undefined): Archiver =>
      new Archiver(repo, {
        signal,
        ...snapshotFields(ctx),
        backupStart,
        parent: ctx.opts['force'] ? false : (ctx.opts['parent'] as string | undefined),
        excludes: excludeOptions(ctx),
        onProgress: progressReporter(ctx, line),
        progressInterval: progressInterval(ctx.env),
        onScanFinished: (st, seconds) => {
          line?.clear();
          scanFinished(ctx, st, seconds);
        },
        onItem: verbosity(ctx) >= (ctx.json ? 2 : 3) ? (item) => verboseItem(ctx, item, line) : undefined,
        onWarning: warningPrinter(ctx, line),
        onFileChanged: fileChangedPrinter(ctx, line),
        ...changeDetectionOptions(ctx),
        dryRun,
        noScan: !!ctx.opts['no-scan'],
        onParent: (id) => {
          say(1, id ? `using parent snapshot ${id.slice(0, 8)}` : 'no parent snapshot found, will read all files');
          say(2, 'load index files');
          say(2, `start scan on [${targets.join(' ')}]`);
          say(2, `start backup on [${targets.join(' ')}]`);
        },
      });
    // restic takes no lock for a dry run: nothing is written
    const run = async (signal: AbortSignal | undefined) => {
      const r = await newArchiver(signal).run(targets);
      if (dryRun) return r;
      await repo.writesAllowed(); // the lock is held (a skipped snapshot wrote nothing)
      // what killed backups left behind: removed once surely dead (best effort)
      const cleaned = await removeStaleTempFiles(repo.backend).catch(() => ({ files: 0, bytes: 0 }));
      if (cleaned.files && verbosity(ctx) >= 2 && !ctx.json) ctx.stdout(`removed ${cleaned.files} stale temp files\n`);
      return r;
    };
    if (!dryRun) say(2, 'lock repository');
    const result = await (dryRun ? run(ctx.signal) : withOverlappedLock(ctx, repo, run));
    line?.clear();
    printSummary(ctx, result, (Date.now() - started) / 1000);
    await repo.close();
    return result.warnings.length ? ExitCode.Incomplete : ExitCode.OK;
  },
};

/** What --host, --tag and --time put in the snapshot, and our program version. */
function snapshotFields(ctx: GlobalContext): { hostname: string; tags: string[]; time: string | undefined; programVersion: string } {
  return {
    hostname: (ctx.opts['host'] as string | undefined) ?? ctx.env.RESTIC_HOST ?? os.hostname(),
    tags: ((ctx.opts['tag'] as string[] | undefined) ?? []).flatMap((t) => t.split(',')).filter(Boolean),
    time: parseTimeFlag(ctx.opts['time'] as string | undefined),
    programVersion: `restic-ts ${VERSION}`,
  };
}

/**
 * The repository, with the lock's first look, the index and snapshot names listed while
 * scrypt runs; the archiver's modules load once its first request is out.
 */
async function openForBackup(
  ctx: GlobalContext,
  dryRun: boolean,
  targets: string[],
): Promise<{ repo: Repository; Archiver: typeof Archiver }> {
  let spares: Promise<BlobWorkerSpares | undefined> = Promise.resolve(undefined);
  const opening = openRepository(ctx, {
    listEarly: dryRun ? ['index', 'snapshot'] : ['lock', 'index', 'snapshot'],
    whileOpening: (listings) => {
      if (!dryRun && listings.snapshot) spares = sparesForFirstBackup(ctx, targets, listings.snapshot);
    },
  });
  const archiverModule = import('../archiver/archiver.js');
  try {
    const [repo, { Archiver }] = await Promise.all([opening, archiverModule]);
    const early = await spares;
    if (early) repo.adoptBlobWorkers(early);
    return { repo, Archiver };
  } catch (err) {
    await (await spares)?.close();
    throw err;
  }
}

/**
 * Blob workers started while the key is derived, when the backup will surely read new data:
 * the repository has no snapshot (so no parent) and the targets hold more than the calling
 * thread would encode itself. Their start-up then overlaps scrypt instead of the data.
 * None on a tight memory budget or a single core.
 */
async function sparesForFirstBackup(
  ctx: GlobalContext,
  targets: string[],
  snapshots: Promise<string[]>,
): Promise<BlobWorkerSpares | undefined> {
  const cores = os.availableParallelism();
  if (cores < 2 || memoryBudget(resolveMemoryLimit(memoryLimitOption(ctx))).tight) return undefined;
  const names = await snapshots.catch(() => null);
  if (!names || names.length) return undefined;
  const [{ targetsHoldAtLeast }, { BlobWorkerSpares, IN_PROCESS_DATA }] = await Promise.all([
    import('../archiver/data-estimate.js'),
    import('../parallel/blob-pool.js'),
  ]);
  if (!targetsHoldAtLeast(targets, IN_PROCESS_DATA)) return undefined;
  return new BlobWorkerSpares(Math.min(cores, 4));
}

/** restic's filterExisting: missing targets are skipped with a warning; none left is fatal. */
function filterExisting(ctx: GlobalContext, targets: string[]): string[] {
  const out = targets.filter((t) => {
    try {
      fs.lstatSync(t);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return true;
      ctx.stderr(`${t} does not exist, skipping\n`);
      return false;
    }
  });
  if (!out.length) throw new UsageError('all target directories/files do not exist');
  return out;
}

/** restic's P/V lines on stdout (not under --json): shown from verbosity `level` on. */
function printer(ctx: GlobalContext): (level: number, msg: string) => void {
  return (level, msg) => {
    if (!ctx.json && verbosity(ctx) >= level) ctx.stdout(msg + '\n');
  };
}

/** A file whose size changed while read: old restic's warning; not an error. */
function fileChangedPrinter(ctx: GlobalContext, line: StatusLine | undefined): (c: FileChanged) => void {
  return (c) => {
    line?.clear();
    ctx.stderr(`warning for ${c.path}: expected ${c.expected} bytes, saved ${c.saved} bytes\n`);
  };
}

/** Problems with single items: reported and counted, the backup goes on. */
function warningPrinter(ctx: GlobalContext, line: StatusLine | undefined): (w: BackupWarning) => void {
  return (w) => {
    // an item the signal interrupted is no problem of the item
    if (ctx.signal?.aborted) return;
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
    ctx.stdout(summaryJson(result.snapshot.summary, elapsed, result.snapshotId, !!ctx.opts['dry-run']));
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
    `${ctx.opts['dry-run'] ? 'Would add' : 'Added'} to the repository: ${resticFormatBytes(s.dataAdded).padEnd(5)} (${resticFormatBytes(s.dataAddedStored).padEnd(5)} stored)\n\n`,
  );
  ctx.stdout(
    `processed ${s.totalFilesProcessed} files, ${resticFormatBytes(s.totalBytesProcessed)} in ${formatDuration(elapsed * 1000)}\n`,
  );
  if (ctx.opts['dry-run']) return;
  if (result.skipped) return ctx.stdout('skipped creating snapshot\n');
  ctx.stdout(`snapshot ${result.snapshotId.slice(0, 8)} saved\n`);
  ctx.stdout(backupIdLine(result.snapshotId));
}

/** restic 0.17+'s JSON summary message (backup_start/backup_end since 0.17, the full snapshot_id since 0.15). */
function summaryJson(sum: SnapshotSummary | undefined, elapsed: number, snapshotId: string, dryRun = false): string {
  const z = sum ?? ({} as Partial<SnapshotSummary>);
  return (
    goMarshal({
      message_type: 'summary',
      files_new: z.filesNew ?? 0,
      files_changed: z.filesChanged ?? 0,
      files_unmodified: z.filesUnmodified ?? 0,
      dirs_new: z.dirsNew ?? 0,
      dirs_changed: z.dirsChanged ?? 0,
      dirs_unmodified: z.dirsUnmodified ?? 0,
      data_blobs: z.dataBlobs ?? 0,
      tree_blobs: z.treeBlobs ?? 0,
      data_added: z.dataAdded ?? 0,
      data_added_packed: z.dataAddedPacked ?? 0,
      total_files_processed: z.totalFilesProcessed ?? 0,
      total_bytes_processed: z.totalBytesProcessed ?? 0,
      total_duration: elapsed,
      backup_start: z.backupStart,
      backup_end: z.backupEnd,
      snapshot_id: snapshotId || undefined,
      dry_run: dryRun || undefined,
    }) + '\n'
  );
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

/**
 * restic's -vv lines (verbosity 3): "new       /path, saved in 0.001s (6 B added)", "unchanged /dir/";
 * under --json from -v on, verbose_status messages with the item's own blob sizes.
 */
function verboseItem(ctx: GlobalContext, item: BackupItem, line: StatusLine | undefined): void {
  line?.clear();
  if (ctx.json) {
    const changed = item.action !== 'unchanged';
    ctx.stdout(
      goMarshal({
        message_type: 'verbose_status',
        action: item.action,
        item: item.path,
        duration: changed ? item.seconds : 0,
        data_size: changed ? item.dataSize : 0,
        data_size_in_repo: changed ? item.dataSizeInRepo : 0,
        metadata_size: changed ? item.treeSize : 0,
        metadata_size_in_repo: changed ? item.treeSizeInRepo : 0,
        total_files: 0,
      }) + '\n',
    );
    return;
  }
  const verb = item.action === 'modified' ? 'modified ' : item.action.padEnd(9);
  const b = resticFormatBytes;
  if (item.action === 'unchanged') ctx.stdout(`${verb} ${item.path}\n`);
  else if (item.type === 'dir')
    ctx.stdout(
      `${verb} ${item.path}, saved in ${item.seconds.toFixed(3)}s (${b(item.dataSize)} added, ${b(item.dataSizeInRepo)} stored, ${b(item.treeSizeInRepo)} metadata)\n`,
    );
  else if (item.action === 'new') ctx.stdout(`${verb} ${item.path}, saved in ${item.seconds.toFixed(3)}s (${b(item.dataSize)} added)\n`);
  else
    ctx.stdout(
      `${verb} ${item.path}, saved in ${item.seconds.toFixed(3)}s (${b(item.dataSize)} added, ${b(item.dataSizeInRepo)} stored)\n`,
    );
}

/**
 * restic's status: a live line on a terminal, JSON status lines under --json (restic's fields,
 * zero values left out as Go's omitempty does); on a plain pipe none, but the scanner still runs
 * for -v's "scan finished" line.
 */
function progressReporter(ctx: GlobalContext, line: StatusLine | undefined): ((p: BackupProgress) => void) | undefined {
  if (ctx.quiet) return undefined;
  if (ctx.json) return (p) => ctx.stdout(statusJson(p));
  if (!line) return verbosity(ctx) >= 2 ? () => undefined : undefined;
  return (p) => {
    const elapsed = `[${formatDuration(p.secondsElapsed * 1000)}]`;
    const cur = p.currentFile ? ` ${p.currentFile}` : '';
    if (!p.scanFinished) {
      line.update(
        `${elapsed} ${p.filesDone} files, ${resticFormatBytes(p.bytesDone)}` + rateAndEta(p.bytesDone, undefined, p.secondsElapsed) + cur,
      );
      return;
    }
    const pct = formatPercent(p.bytesDone, p.totalBytes);
    line.update(
      `${elapsed} ${pct ? pct + '  ' : ''}${p.filesDone} files ${resticFormatBytes(p.bytesDone)}, total ${p.totalFiles} files ${resticFormatBytes(p.totalBytes)}` +
        rateAndEta(p.bytesDone, p.totalBytes, p.secondsElapsed) +
        cur,
    );
  };
}

/** restic's statusUpdate message. */
function statusJson(p: BackupProgress): string {
  const o: Record<string, unknown> = { message_type: 'status' };
  const put = (k: string, v: number | string[]) => {
    if (Array.isArray(v) ? v.length : v) o[k] = v;
  };
  put('seconds_elapsed', Math.floor(p.secondsElapsed));
  put('seconds_remaining', p.secondsRemaining);
  o.percent_done = p.percentDone;
  put('total_files', p.totalFiles);
  put('files_done', p.filesDone);
  put('total_bytes', p.totalBytes);
  put('bytes_done', p.bytesDone);
  put('error_count', p.errorCount);
  put('current_files', p.currentFiles);
  return goMarshal(o) + '\n';
}

/** restic's ReportTotal: "scan finished in …" with -v, a scan_finished status under --json -v. */
function scanFinished(ctx: GlobalContext, st: ScanStats, seconds: number): void {
  if (verbosity(ctx) < 2) return;
  if (!ctx.json) {
    ctx.stdout(`scan finished in ${seconds.toFixed(3)}s: ${st.files} files, ${resticFormatBytes(st.bytes)}\n`);
    return;
  }
  ctx.stdout(
    goMarshal({
      message_type: 'status',
      action: 'scan_finished',
      item: '',
      duration: seconds,
      data_size: st.bytes,
      data_size_in_repo: 0,
      metadata_size: 0,
      metadata_size_in_repo: 0,
      total_files: st.files,
    }) + '\n',
  );
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
  const name = (ctx.opts['stdin-filename'] as string | undefined) ?? 'stdin';
  if (!name || (name.includes('/') && path.posix.normalize(name).startsWith('..')))
    throw new UsageError(`invalid --stdin-filename ${JSON.stringify(name)}`);
  const backupStart = nowGoTime();
  const started = Date.now();
  const repo = await openRepository(ctx);
  const dryRun = !!ctx.opts['dry-run'];
  if (dryRun) repo.setDryRun();
  const rel = path.posix.normalize(name).replace(/^\/+/, '');
  const fields = snapshotFields(ctx);
  const content = ctx.opts['stdin-from-command'] ? commandOutput(ctx, args) : process.stdin;
  // restic's fs.Reader: mode 0644, no owner, no link count; directories above the file likewise
  const owner = { uid: 0, gid: 0, user: '', group: '' };
  const dirs = rel
    .split('/')
    .slice(0, -1)
    .map((_, i, parts) => ({ path: parts.slice(0, i + 1).join('/'), type: 'dir' as const, mode: 0o755, ...owner }));
  const entries = [...dirs, { path: rel, content, mode: 0o644, links: 0, ...owner }];
  const { backupEntries } = await import('../archiver/virtual.js');
  const run = () =>
    backupEntries(repo, entries, {
      signal: ctx.signal,
      ...fields,
      backupStart,
      paths: ['/' + rel],
    });
  const result = await (dryRun ? run() : withLock(ctx, repo, false, run, { honourNoLock: false }));
  const elapsed = (Date.now() - started) / 1000;
  if (ctx.json) ctx.stdout(summaryJson(result.snapshot.summary, elapsed, result.snapshotId, dryRun));
  else
    printSummary(
      ctx,
      { snapshotId: result.snapshotId, snapshot: result.snapshot, stats: result.stats, warnings: [], changed: [] },
      elapsed,
    );
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
