import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { rebuildIndexOptions, runRebuildIndex } from './rebuild-index-run.js';

/** restic 0.16's name for rebuild-index: `repair index`. */
export const repairCommand: Command = {
  name: 'repair',
  summary: 'Repair the repository (repair index = rebuild-index)',
  usage: 'restic-ts repair index [flags]',
  options: rebuildIndexOptions,
  async run(ctx, args) {
    const [what, ...rest] = args;
    if (what !== 'index') throw new UsageError(`unknown repair target ${JSON.stringify(what ?? '')} (supported: index)`);
    return runRebuildIndex(ctx, rest);
  },
};
