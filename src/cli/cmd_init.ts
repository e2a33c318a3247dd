import os from 'node:os';
import { UsageError } from '../errors.js';
import { Repository } from '../repository/repository.js';
import type { Command } from './command.js';
import {
  type GlobalContext,
  compressionOption,
  kdfOverride,
  openBackend,
  openRepository,
  readPassword,
  rememberKeyParams,
  repositoryLocation,
} from './global.js';
import { hasSecondaryRepo, secondaryContext, secondaryRepoOptions } from './secondary-repo.js';

export const initCommand: Command = {
  name: 'init',
  summary: 'Initialize a new repository',
  usage: 'restic-ts init [flags]',
  options: [
    {
      name: 'repository-version',
      kind: 'string',
      help: 'repository format version to use, allowed values are a format version, "latest" and "stable"',
    },
    {
      name: 'copy-chunker-params',
      kind: 'bool',
      help: 'copy chunker parameters from the secondary repository (useful with the copy command)',
    },
    ...secondaryRepoOptions('to copy chunker parameters from'),
  ],
  async run(ctx) {
    const v = (ctx.opts['repository-version'] as string | undefined) ?? 'stable';
    const version = v === 'stable' || v === 'latest' ? 2 : Number(v);
    if (version !== 1 && version !== 2) throw new UsageError(`unsupported repository version ${JSON.stringify(v)}`);
    const polynomial = await secondaryPolynomial(ctx);
    const location = repositoryLocation(ctx);
    const password = readPassword(ctx);
    if (!password) throw new UsageError('an empty password is not allowed by default');
    const backend = openBackend(location, ctx);
    const repo = await Repository.init(backend, password, {
      version,
      compression: compressionOption(ctx),
      kdf: kdfOverride(ctx.env),
      hostname: os.hostname(),
      polynomial,
      // the next command derives this key from its start (see cache/key-params.ts)
      onKeyParams: (kp) => rememberKeyParams(ctx, backend, location, kp),
    });
    if (ctx.json) {
      ctx.stdout(JSON.stringify({ message_type: 'initialized', id: repo.config.id, repository: location }) + '\n');
    } else if (!ctx.quiet) {
      // restic prints these with Verbosef: nothing under --quiet
      ctx.stdout(`created restic repository ${repo.config.id.slice(0, 10)} at ${location}\n\n`);
      ctx.stdout(
        'Please note that knowledge of your password is required to access\nthe repository. Losing your password means that your data is\nirrecoverably lost.\n',
      );
    }
    await repo.close();
    return 0;
  },
};

/**
 * With --copy-chunker-params, the secondary (--from-repo) repository's chunker polynomial,
 * so that `copy` into the new repository de-duplicates against its own backups.
 */
async function secondaryPolynomial(ctx: GlobalContext): Promise<bigint | undefined> {
  if (!ctx.opts['copy-chunker-params']) {
    if (hasSecondaryRepo(ctx)) throw new UsageError('Secondary repository must only be specified when copying the chunker parameters');
    return undefined;
  }
  const other = await openRepository(secondaryContext(ctx).ctx);
  try {
    return other.config.chunkerPolynomial;
  } finally {
    await other.close();
  }
}
