import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { rebuildIndexOptions, runRebuildIndex } from './rebuild-index-run.js';
import { REPAIR_SNAPSHOTS_OPTIONS, runRepairSnapshots } from './repair-snapshots-run.js';

/** restic 0.16's `repair index` (= rebuild-index) and `repair snapshots`. */
export const repairCommand: Command = {
  name: 'repair',
  summary: 'Repair the repository (index, snapshots)',
  usage: 'restic-ts repair index|snapshots [flags]',
  options: [...rebuildIndexOptions, ...REPAIR_SNAPSHOTS_OPTIONS],
  async run(ctx, args) {
    const [what, ...rest] = args;
    if (what === 'index') return runRebuildIndex(ctx, rest);
    if (what === 'snapshots') return runRepairSnapshots(ctx, rest);
    throw new UsageError(`unknown repair target ${JSON.stringify(what ?? '')} (supported: index, snapshots)`);
  },
};
