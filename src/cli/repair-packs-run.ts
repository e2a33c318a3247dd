/** `repair packs ID...` (restic ≥ 0.16): salvage what can be read of damaged pack files. */
import fs from 'node:fs';
import { UsageError } from '../errors.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { parseIdProblem, verboseLine, warn } from './read-common.js';
import { repairPacks } from '../repair/packs.js';

export async function runRepairPacks(ctx: GlobalContext, args: string[]): Promise<number> {
  for (const a of args) {
    const problem = parseIdProblem(a);
    if (problem) throw new UsageError(problem);
  }
  const ids = [...new Set(args)];
  if (!ids.length) throw new UsageError('no ids specified');
  const say = verboseLine(ctx);
  const repo = await openRepository(ctx);
  try {
    await withLock(
      ctx,
      repo,
      true,
      async () => {
        say('saving backup copies of pack files to current folder');
        await repairPacks(repo, ids, {
          signal: ctx.signal,
          log: say,
          warn: (m) => warn(ctx, m),
          // restic writes pack-<id> next to where it runs and never overwrites one
          onPackLoaded: (id, bytes) => fs.writeFileSync(`pack-${id}`, bytes, { flag: 'wx' }),
        });
      },
      { honourNoLock: false },
    );
  } finally {
    await repo.close();
  }
  ctx.stderr('\nUse `restic-ts repair snapshots --forget` to remove the corrupted data blobs from all snapshots\n');
  return 0;
}
