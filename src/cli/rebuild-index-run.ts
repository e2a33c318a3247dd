/** Running rebuild-index, shared by `rebuild-index` and `repair index`. */
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { logLine } from './read-common.js';
import { rebuildIndex } from '../repair/rebuild-index.js';

export const rebuildIndexOptions: Command['options'] = [
  { name: 'read-all-packs', kind: 'bool', help: 'read all pack files to generate new index from scratch' },
];

/** Rebuilds the index of the repository the global flags name, under an exclusive lock. */
export async function runRebuildIndex(ctx: GlobalContext, args: string[]): Promise<number> {
  if (args.length) throw new UsageError('rebuild-index expects no arguments');
  const repo = await openRepository(ctx);
  try {
    await withLock(ctx, repo, true, () =>
      rebuildIndex(repo, {
        signal: ctx.signal,
        readAllPacks: !!ctx.opts['read-all-packs'],
        log: logLine(ctx),
        warn: (l) => ctx.stderr(l + '\n'),
      }),
    );
  } finally {
    await repo.close();
  }
  return 0;
}
