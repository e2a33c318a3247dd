import os from 'node:os';
import { UsageError } from '../errors.js';
import { Repository } from '../repo/repository.js';
import type { Command } from './command.js';
import { compressionOption, kdfOverride, openBackend, readPassword, repositoryLocation } from './global.js';

export const initCommand: Command = {
  name: 'init',
  summary: 'Initialize a new repository',
  usage: 'restic-ts init [flags]',
  options: [{ name: 'repository-version', kind: 'string', help: 'repository format version to use, allowed values are a format version, "latest" and "stable"' }],
  async run(ctx) {
    const v = (ctx.opts['repository-version'] as string | undefined) ?? 'stable';
    const version = v === 'stable' || v === 'latest' ? 2 : Number(v);
    if (version !== 1 && version !== 2) throw new UsageError(`unsupported repository version ${JSON.stringify(v)}`);
    const location = repositoryLocation(ctx);
    const password = readPassword(ctx);
    if (!password) throw new UsageError('an empty password is not allowed by default');
    const repo = await Repository.init(openBackend(location, ctx), password, {
      version,
      compression: compressionOption(ctx),
      kdf: kdfOverride(ctx.env),
      hostname: os.hostname(),
    });
    if (ctx.json) {
      ctx.stdout(JSON.stringify({ message_type: 'initialized', id: repo.config.id, repository: location }) + '\n');
    } else {
      ctx.stdout(`created restic repository ${repo.config.id.slice(0, 10)} at ${location}\n\n`);
      ctx.stdout('Please note that knowledge of your password is required to access\nthe repository. Losing your password means that your data is\nirrecoverably lost.\n');
    }
    await repo.close();
    return 0;
  },
};
