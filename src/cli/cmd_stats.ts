import { ResticError, UsageError } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { snapshotFilter, snapshotFilterOptions, warn } from './read-common.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { STATS_MODES, type StatsMode, StatsCollector, statsJson } from '../walker/stats.js';
import { resticFormatBytes } from '../ui/format.js';

export const statsCommand: Command = {
  name: 'stats',
  summary: 'Scan the repository and show basic statistics',
  usage: 'restic-ts stats [flags] [snapshot ID] [...]',
  options: [
    { name: 'mode', kind: 'string', help: 'counting mode: restore-size (default), files-by-contents, blobs-per-file or raw-data' },
    ...snapshotFilterOptions(''),
  ],
  async run(ctx, args) {
    const mode = ((ctx.opts['mode'] as string | undefined) ?? 'restore-size') as StatsMode;
    if (!STATS_MODES.includes(mode))
      throw new UsageError(`unknown counting mode: ${mode} (use the -h flag to get a list of supported modes)`);
    const repo = await openRepository(ctx);
    const out = new Out();
    try {
      await withLock(ctx, repo, false, async () => {
        await repo.loadIndex();
        if (!ctx.json) await out.text('scanning...\n');
        const stats = new StatsCollector(repo, mode);
        for (const sn of await findFilteredSnapshots(repo, snapshotFilter(ctx), args, (m) => warn(ctx, m))) {
          try {
            await stats.addSnapshot(sn.snapshot.tree, sn.id.slice(0, 8));
          } catch (err) {
            throw new ResticError(`error walking snapshot: ${(err as Error).message}`, { cause: err });
          }
        }
        const r = stats.finish();
        if (ctx.json) {
          await out.text(statsJson(r) + '\n');
          return;
        }
        let text = `Stats in ${mode} mode:\nSnapshots processed:   ${r.snapshotsCount}\n`;
        if (r.totalBlobCount > 0) text += `   Total Blob Count:   ${r.totalBlobCount}\n`;
        if (r.totalFileCount > 0) text += `   Total File Count:   ${r.totalFileCount}\n`;
        text += `         Total Size:   ${resticFormatBytes(r.totalSize).padEnd(5)}\n`;
        await out.text(text);
      });
    } finally {
      await out.flush();
      await repo.close();
    }
    return 0;
  },
};
