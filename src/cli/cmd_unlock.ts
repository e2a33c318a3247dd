import type { Command } from './command.js';
import { openRepository } from './global.js';

/** restic's `unlock`: remove stale locks, or with --remove-all every lock. Takes no lock itself. */
export const unlockCommand: Command = {
  name: 'unlock',
  summary: 'Remove locks other processes created',
  usage: 'restic-ts unlock [flags]',
  options: [{ name: 'remove-all', kind: 'bool', help: 'remove all locks, even non-stale ones' }],
  async run(ctx) {
    const repo = await openRepository(ctx);
    try {
      const removed = await repo.removeLocks(!!ctx.opts['remove-all']);
      if (ctx.json) {
        ctx.stdout(JSON.stringify({ message_type: 'unlock', removed }) + '\n');
      } else if (!ctx.quiet) {
        if (ctx.opts['verbose']) for (const id of removed) ctx.stdout(`removed lock ${id}\n`);
        ctx.stdout('successfully removed locks\n');
      }
    } finally {
      await repo.close();
    }
    return 0;
  },
};
