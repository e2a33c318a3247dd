/** `recover`: save a snapshot of the trees nothing refers to (restic's words). */
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { verboseLine, warn } from './read-common.js';
import { recover } from '../repair/recover.js';

export const recoverCommand: Command = {
  name: 'recover',
  summary: 'Recover data from the repository not referenced by snapshots',
  usage: 'restic-ts recover [flags]',
  options: [],
  async run(ctx) {
    const say = verboseLine(ctx);
    const repo = await openRepository(ctx);
    try {
      await withLock(
        ctx,
        repo,
        true,
        async () => {
          const r = await recover(repo, {
            signal: ctx.signal,
            log: say,
            onWarning: (m) => warn(ctx, m),
          });
          if (((ctx.opts['verbose'] as number | undefined) ?? 0) >= 1) for (const id of r.roots) say(`found root tree ${id.slice(0, 8)}`);
          say(`\nfound ${r.roots.length} unreferenced roots`);
          if (r.snapshotId === null) say('no snapshot to write.');
          else say(`saved new snapshot ${r.snapshotId.slice(0, 8)}`);
        },
        { honourNoLock: false },
      );
    } finally {
      await repo.close();
    }
    return 0;
  },
};
