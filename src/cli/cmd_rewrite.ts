/** `rewrite` (restic ≥ 0.15, includes from 0.19): new snapshots with fewer files, or with a new host or time. */
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { snapshotFilter, snapshotFilterOptions, warn } from './read-common.js';
import { printReplaceEvent, replaceSummary } from './rewrite-common.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { readPatternFile } from '../archiver/exclude.js';
import { rewriteSnapshots } from '../repair/rewrite.js';
import { parseLocalTime } from '../go/time.js';

export const rewriteCommand: Command = {
  name: 'rewrite',
  summary: 'Rewrite snapshots to exclude files or change metadata',
  usage: 'restic-ts rewrite [flags] [snapshotID ...]',
  options: [
    { name: 'forget', kind: 'bool', help: 'remove original snapshots after creating new ones' },
    { name: 'dry-run', short: 'n', kind: 'bool', help: 'do not do anything, just print what would be done' },
    { name: 'new-host', kind: 'string', help: 'replace hostname' },
    { name: 'new-time', kind: 'string', help: 'replace time of the backup' },
    ...snapshotFilterOptions(', when snapshot ID "latest" is given'),
    { name: 'exclude', short: 'e', kind: 'list', help: 'exclude a pattern (can be specified multiple times)' },
    { name: 'iexclude', kind: 'list', help: 'same as --exclude pattern but ignores the casing of filenames' },
    { name: 'exclude-file', kind: 'list', help: 'read exclude patterns from a file (can be specified multiple times)' },
    { name: 'iexclude-file', kind: 'list', help: 'same as --exclude-file but ignores casing of filenames in patterns' },
    { name: 'include', short: 'i', kind: 'list', help: 'include a pattern (can be specified multiple times)' },
    { name: 'iinclude', kind: 'list', help: 'same as --include pattern but ignores the casing of filenames' },
    { name: 'include-file', kind: 'list', help: 'read include patterns from a file (can be specified multiple times)' },
    { name: 'iinclude-file', kind: 'list', help: 'same as --include-file but ignores casing of filenames in patterns' },
  ],
  async run(ctx, args) {
    const list = (k: string) => (ctx.opts[k] as string[] | undefined) ?? [];
    const exclude = [...list('exclude'), ...list('exclude-file').flatMap((f) => readPatternFile(f, ctx.env))];
    const iexclude = [...list('iexclude'), ...list('iexclude-file').flatMap((f) => readPatternFile(f, ctx.env))];
    const include = [...list('include'), ...list('include-file').flatMap((f) => readPatternFile(f, ctx.env))];
    const iinclude = [...list('iinclude'), ...list('iinclude-file').flatMap((f) => readPatternFile(f, ctx.env))];
    const excluding = exclude.length > 0 || iexclude.length > 0;
    const including = include.length > 0 || iinclude.length > 0;
    const newHost = (ctx.opts['new-host'] as string | undefined) || undefined;
    const timeFlag = (ctx.opts['new-time'] as string | undefined) || undefined;
    if (!excluding && !including && !newHost && !timeFlag)
      throw new UsageError('Nothing to do: no excludes/includes provided and no new metadata provided');
    if (excluding && including) throw new UsageError('exclude and include patterns are mutually exclusive');
    let newTime: string | undefined;
    try {
      newTime = timeFlag ? parseLocalTime(timeFlag) : undefined;
    } catch (err) {
      throw new UsageError(`error in time option: ${(err as Error).message}`);
    }
    const dryRun = !!ctx.opts['dry-run'];
    const forget = !!ctx.opts['forget'];
    const repo = await openRepository(ctx);
    try {
      if (forget && !ctx.quiet) ctx.stdout('create exclusive lock for repository\n');
      const work = async () => {
        const snapshots = await findFilteredSnapshots(repo, snapshotFilter(ctx), args, (m) => warn(ctx, m));
        const verbose = ((ctx.opts['verbose'] as number | undefined) ?? 0) >= 2;
        return rewriteSnapshots(repo, snapshots, {
          signal: ctx.signal,
          exclude,
          iexclude,
          include,
          iinclude,
          newHost,
          newTime,
          dryRun,
          forget,
          onEvent: (e) => printReplaceEvent(ctx, e, verbose),
        });
      };
      // restic takes no lock for a dry run
      const result = dryRun ? await work() : await withLock(ctx, repo, forget, work, { honourNoLock: false });
      if (!ctx.quiet) ctx.stdout(replaceSummary(result.changed, dryRun));
    } finally {
      await repo.close();
    }
    return 0;
  },
};
