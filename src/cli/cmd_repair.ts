import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { rebuildIndexOptions, runRebuildIndex } from './rebuild-index-run.js';
import { REPAIR_SNAPSHOTS_OPTIONS, runRepairSnapshots } from './repair-snapshots-run.js';
import { runRepairPacks } from './repair-packs-run.js';

/** restic 0.16's `repair index` (= rebuild-index), `repair snapshots` and `repair packs`. */
export const repairCommand: Command = {
  name: 'repair',
  summary: 'Repair the repository (index, snapshots, packs)',
  usage: 'restic-ts repair index|snapshots|packs [flags]',
  options: [...rebuildIndexOptions, ...REPAIR_SNAPSHOTS_OPTIONS],
  async run(ctx, args) {
    const [what, ...rest] = args;
    if (what === 'index') return runRebuildIndex(ctx, rest);
    if (what === 'snapshots') return runRepairSnapshots(ctx, rest);
    if (what === 'packs') return runRepairPacks(ctx, rest);
    throw new UsageError(`unknown repair target ${JSON.stringify(what ?? '')} (supported: index, snapshots, packs)`);
  },
};
