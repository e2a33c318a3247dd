import { UsageError } from '../errors.js';
import { restore } from '../restorer/restorer.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Extract the data from a snapshot',
  usage: 'restic-ts restore [flags] snapshotID',
  options: [
    { name: 'target', short: 't', kind: 'string', help: 'directory to extract data to' },
    { name: 'include', short: 'i', kind: 'list', help: 'include a pattern, exclude everything else (can be specified multiple times)' },
    { name: 'exclude', short: 'e', kind: 'list', help: 'exclude a pattern (can be specified multiple times)' },
    { name: 'verify', kind: 'bool', help: 'verify restored files content' },
  ],
  async run(ctx, args) {
    if (args.length !== 1) throw new UsageError('no snapshot ID specified');
    const target = ctx.opts['target'] as string | undefined;
    if (!target) throw new UsageError('please specify a directory to restore to (--target)');
    const [spec, subfolder] = args[0]!.split(/:(.*)/s) as [string, string | undefined];
    const repo = await openRepository(ctx);
    const stats = await withLock(ctx, repo, false, async () => {
      const { id } = await repo.findSnapshot(spec);
      if (!ctx.json && !ctx.quiet) ctx.stdout(`restoring snapshot ${id.slice(0, 8)} to ${target}\n`);
      return restore(repo, id, target, {
        subfolder,
        include: ctx.opts['include'] as string[] | undefined,
        exclude: ctx.opts['exclude'] as string[] | undefined,
        verify: !!ctx.opts['verify'],
        onWarning: (w) => ctx.stderr(`ignoring error for ${w.path}: ${w.message}\n`),
      });
    });
    if (ctx.json) {
      ctx.stdout(JSON.stringify({ message_type: 'summary', total_files: stats.files, files_restored: stats.files, total_bytes: stats.bytes, bytes_restored: stats.bytes }) + '\n');
    } else if (ctx.opts['verify'] && !ctx.quiet) {
      ctx.stdout(`verified ${stats.verified} files\n`);
    }
    if (stats.errors && !ctx.json) ctx.stderr(`There were ${stats.errors} errors\n`);
    await repo.close();
    return stats.errors ? 1 : 0;
  },
};
