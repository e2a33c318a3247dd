import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { PRUNE_OPTIONS, pruneOptionsFromFlags, runPruneWithOutput } from './prune-run.js';

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Remove unneeded data from the repository',
  usage: 'restic-ts prune [flags]',
  options: [
    { name: 'dry-run', short: 'n', kind: 'bool', help: 'do not modify the repository, just print what would be done' },
    ...PRUNE_OPTIONS,
  ],
  async run(ctx, args) {
    if (args.length) throw new UsageError('prune expects no arguments');
    const opts = pruneOptionsFromFlags(ctx);
    const repo = await openRepository(ctx);
    try {
      await withLock(ctx, repo, true, () => runPruneWithOutput(ctx, repo, opts));
    } finally {
      await repo.close();
    }
    return 0;
  },
};
