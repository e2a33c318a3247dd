/** `copy`: copy snapshots from --from-repo into the repository given by -r (restic 0.14). */
import { UsageError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { OptionSpec } from './args.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository } from './global.js';
import { warn } from './read-common.js';
import { parseTagListFlags } from '../forget/tags.js';
import { copySnapshots } from '../copy/copy.js';

/** restic's from-repo option group (the secondary repository of copy and init). */
export function secondaryRepoOptions(usage: string): OptionSpec[] {
  return [
    { name: 'from-repo', kind: 'string', help: `source repository ${usage}`, env: 'RESTIC_FROM_REPOSITORY' },
    { name: 'from-repository-file', kind: 'string', help: `file from which to read the source repository location ${usage}`, env: 'RESTIC_FROM_REPOSITORY_FILE' },
    { name: 'from-password-file', kind: 'string', help: 'file to read the source repository password from', env: 'RESTIC_FROM_PASSWORD_FILE' },
    { name: 'from-key-hint', kind: 'string', help: 'key ID of key to try decrypting the source repository first', env: 'RESTIC_FROM_KEY_HINT' },
    { name: 'from-password-command', kind: 'string', help: 'shell command to obtain the source repository password from', env: 'RESTIC_FROM_PASSWORD_COMMAND' },
  ];
}

const fromOpt = (ctx: GlobalContext, flag: string, env: string) => (ctx.opts[flag] as string | undefined) || ctx.env[env] || undefined;

/** Whether a source repository location was given (flags or environment). */
export function hasSecondaryRepo(ctx: GlobalContext): boolean {
  return !!(fromOpt(ctx, 'from-repo', 'RESTIC_FROM_REPOSITORY') || fromOpt(ctx, 'from-repository-file', 'RESTIC_FROM_REPOSITORY_FILE'));
}

/**
 * A context for the secondary repository: its location, password (RESTIC_FROM_PASSWORD,
 * …_FILE, …_COMMAND) and key hint replace the primary ones; other options are shared.
 */
export function secondaryContext(ctx: GlobalContext): GlobalContext {
  const repo = fromOpt(ctx, 'from-repo', 'RESTIC_FROM_REPOSITORY');
  const repoFile = fromOpt(ctx, 'from-repository-file', 'RESTIC_FROM_REPOSITORY_FILE');
  if (!repo && !repoFile) throw new UsageError('Please specify a source repository location (--from-repo or --from-repository-file)');
  if (repo && repoFile) throw new UsageError('Options --from-repo and --from-repository-file are mutually exclusive, please specify only one');
  const opts = {
    ...ctx.opts,
    repo,
    'repository-file': repoFile,
    'password-file': fromOpt(ctx, 'from-password-file', 'RESTIC_FROM_PASSWORD_FILE'),
    'password-command': fromOpt(ctx, 'from-password-command', 'RESTIC_FROM_PASSWORD_COMMAND'),
    'key-hint': fromOpt(ctx, 'from-key-hint', 'RESTIC_FROM_KEY_HINT'),
  };
  const env: NodeJS.ProcessEnv = { ...ctx.env, RESTIC_PASSWORD: ctx.env.RESTIC_FROM_PASSWORD };
  for (const k of ['RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_KEY_HINT']) delete env[k];
  if (env.RESTIC_PASSWORD === undefined) delete env.RESTIC_PASSWORD;
  return { ...ctx, opts, env };
}

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy snapshots from one repository to another',
  usage: 'restic-ts copy [flags] [snapshotID ...]',
  options: [
    ...secondaryRepoOptions('to copy snapshots from'),
    { name: 'host', short: 'H', kind: 'list', help: 'only consider snapshots for this host, when no snapshot ID is given (can be specified multiple times)' },
    { name: 'tag', kind: 'list', help: 'only consider snapshots which include this taglist, when no snapshot ID is given' },
    { name: 'path', kind: 'list', help: 'only consider snapshots which include this (absolute) path, when no snapshot ID is given' },
  ],
  async run(ctx, args) {
    const srcCtx = secondaryContext(ctx);
    const filter = {
      hosts: (ctx.opts['host'] as string[] | undefined) ?? [],
      tags: parseTagListFlags(ctx.opts['tag'] as string[] | undefined),
      paths: (ctx.opts['path'] as string[] | undefined) ?? [],
    };
    const src = await openRepository(srcCtx);
    let dst: Repository | null = null;
    const releases: Array<() => Promise<void>> = [];
    try {
      dst = await openRepository(ctx);
      if (!ctx.opts['no-lock']) releases.push(await src.lock(false));
      releases.push(await dst.lock(false));
      await copySnapshots(src, dst, {
        filter,
        ids: args,
        log: (line) => {
          if (!ctx.quiet && !ctx.json) ctx.stdout(line + '\n');
        },
        warn: (line) => warn(ctx, line),
      });
    } finally {
      for (const release of releases.reverse()) await release();
      await dst?.close();
      await src.close();
    }
    return 0;
  },
};
