/** `repair snapshots` (restic ≥ 0.16): snapshots without the data the repository lost. */
import type { OptionSpec } from './args.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { snapshotFilter, snapshotFilterOptions, warn } from './read-common.js';
import { printReplaceEvent, replaceSummary } from './rewrite-common.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { repairSnapshots } from '../repair/rewrite.js';

export const REPAIR_SNAPSHOTS_OPTIONS: OptionSpec[] = [
  { name: 'dry-run', short: 'n', kind: 'bool', help: 'do not do anything, just print what would be done' },
  { name: 'forget', kind: 'bool', help: 'remove original snapshots after creating new ones' },
  ...snapshotFilterOptions(', when snapshot ID "latest" is given'),
];

export async function runRepairSnapshots(ctx: GlobalContext, args: string[]): Promise<number> {
  const dryRun = !!ctx.opts['dry-run'];
  const repo = await openRepository(ctx);
  try {
    const work = async () => {
      const snapshots = await findFilteredSnapshots(repo, snapshotFilter(ctx), args, (m) => warn(ctx, m));
      return repairSnapshots(repo, snapshots, {
        dryRun,
        forget: !!ctx.opts['forget'],
        onEvent: (e) => printReplaceEvent(ctx, e, false),
      });
    };
    // an exclusive lock, none for a dry run (as restic)
    const result = dryRun ? await work() : await withLock(ctx, repo, true, work, { honourNoLock: false });
    if (!ctx.quiet) ctx.stdout(replaceSummary(result.changed, dryRun));
  } finally {
    await repo.close();
  }
  return 0;
}
