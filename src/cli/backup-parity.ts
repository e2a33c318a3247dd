/**
 * Flags of newer restic's `backup` (0.15–0.19) beyond 0.14's: --dry-run, the files-from
 * family, change detection (--ignore-ctime, --ignore-inode, --with-atime),
 * --skip-if-unchanged, --stdin-from-command, --read-concurrency and --no-scan.
 */
import { spawn } from 'node:child_process';
import { ResticError, UsageError } from '../errors.js';
import type { OptionSpec } from './args.js';
import type { GlobalContext } from './global.js';
import type { BackupOptions } from '../archiver/archiver.js';
import { filesFromTargets } from '../archiver/files-from.js';

const FILES_FROM_HELP = 'read the files to backup from file (can be combined with file args; can be specified multiple times)';

export const BACKUP_PARITY_OPTIONS: OptionSpec[] = [
  { name: 'dry-run', short: 'n', kind: 'bool', help: 'do not upload or write any data, just show what would be done' },
  { name: 'files-from', kind: 'list', help: FILES_FROM_HELP },
  { name: 'files-from-verbatim', kind: 'list', help: FILES_FROM_HELP },
  { name: 'files-from-raw', kind: 'list', help: FILES_FROM_HELP },
  { name: 'stdin-from-command', kind: 'bool', help: 'interpret arguments as command to execute and store its stdout' },
  { name: 'with-atime', kind: 'bool', help: 'store the atime for all files and directories' },
  {
    name: 'ignore-inode',
    kind: 'bool',
    help: 'ignore inode number and ctime changes when checking for modified files (default: $RESTIC_IGNORE_INODE or false)',
  },
  {
    name: 'ignore-ctime',
    kind: 'bool',
    help: 'ignore ctime changes when checking for modified files (default: $RESTIC_IGNORE_CTIME or false)',
  },
  { name: 'skip-if-unchanged', kind: 'bool', help: 'skip snapshot creation if identical to parent snapshot' },
  { name: 'read-concurrency', kind: 'string', help: 'read n files concurrently (default: $RESTIC_READ_CONCURRENCY or 2)' },
  { name: 'no-scan', kind: 'bool', help: 'do not run scanner to estimate size of backup' },
];

/** Go's strconv.ParseBool; anything else counts as false, as restic ignores a bad value. */
function envBool(v: string | undefined): boolean {
  return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v ?? '');
}

type ParityOptions = Pick<BackupOptions, 'ignoreCtime' | 'ignoreInode' | 'withAtime' | 'skipIfUnchanged'>;

/** --ignore-ctime/--ignore-inode (or their environment defaults), --with-atime, --skip-if-unchanged. */
export function changeDetectionOptions(ctx: GlobalContext): ParityOptions {
  readConcurrency(ctx);
  return {
    ignoreInode: !!ctx.opts['ignore-inode'] || envBool(ctx.env.RESTIC_IGNORE_INODE),
    ignoreCtime: !!ctx.opts['ignore-ctime'] || envBool(ctx.env.RESTIC_IGNORE_CTIME),
    withAtime: !!ctx.opts['with-atime'],
    skipIfUnchanged: !!ctx.opts['skip-if-unchanged'],
  };
}

/**
 * --read-concurrency (or RESTIC_READ_CONCURRENCY) is checked as restic checks it; the
 * archiver reads one file at a time and spreads the encoding over its workers instead.
 */
function readConcurrency(ctx: GlobalContext): number {
  const flag = ctx.opts['read-concurrency'] as string | undefined;
  const v = flag ?? ctx.env.RESTIC_READ_CONCURRENCY;
  if (v === undefined || v === '') return 2;
  if (!/^\d+$/.test(v)) {
    if (flag !== undefined)
      throw new UsageError(`invalid argument "${v}" for "--read-concurrency" flag: strconv.ParseUint: parsing "${v}": invalid syntax`);
    throw new UsageError(`invalid value for RESTIC_READ_CONCURRENCY "${v}": strconv.ParseUint: parsing "${v}": invalid syntax`);
  }
  return Number(v) || 2;
}

/** restic's BackupOptions.Check: --stdin and the files-from flags exclude each other. */
export function checkStdinCombinations(ctx: GlobalContext, args: string[]): void {
  const stdin = !!ctx.opts['stdin'] || !!ctx.opts['stdin-from-command'];
  if (!stdin) return;
  for (const f of ['files-from', 'files-from-verbatim', 'files-from-raw'])
    if (((ctx.opts[f] as string[] | undefined) ?? []).length) throw new UsageError(`--stdin and --${f} cannot be used together`);
  if (args.length && !ctx.opts['stdin-from-command']) throw new UsageError('--stdin was specified and files/dirs were listed as arguments');
  if (ctx.opts['stdin-from-command'] && !args.length) throw new UsageError('no command was specified as argument');
}

/** Targets from --files-from* followed by the arguments, as restic's collectTargets. */
export function collectTargets(ctx: GlobalContext, args: string[]): string[] {
  const list = (k: string) => (ctx.opts[k] as string[] | undefined) ?? [];
  const fromFiles = filesFromTargets({
    filesFrom: list('files-from'),
    filesFromVerbatim: list('files-from-verbatim'),
    filesFromRaw: list('files-from-raw'),
    onWarning: (m) => ctx.stderr(m + '\n'),
  });
  return [...fromFiles, ...args];
}

/**
 * --stdin-from-command: the command's standard output, streamed; its stderr lines are
 * reported as restic reports them, and a failing command fails the backup (no snapshot).
 */
export async function* commandOutput(ctx: GlobalContext, argv: string[]): AsyncGenerator<Uint8Array> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<string | null>((resolve) => {
    child.on('error', (err) => resolve(`failed to start command: ${err.message}`));
    child.on('close', (code, signal) =>
      resolve(code === 0 ? null : `command failed: ${signal ? `signal: ${signal}` : `exit status ${code}`}`),
    );
  });
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    const lines = (pending + s).split('\n');
    pending = lines.pop()!;
    for (const l of lines) ctx.stderr(`subprocess ${argv[0]}: ${l}\n`);
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
  } finally {
    if (child.exitCode === null) child.kill();
  }
  const failed = await exited;
  if (pending) ctx.stderr(`subprocess ${argv[0]}: ${pending}\n`);
  if (failed) throw new ResticError(`unable to save snapshot: ${failed}`);
}
