/** The secondary repository of `copy` and `init --from-repo`: its flags, environment and context. */
import { UsageError } from '../errors.js';
import type { OptionSpec } from './args.js';
import { type GlobalContext } from './global.js';

/** restic's from-repo option group (the secondary repository of copy and init), and the deprecated *2 group. */
export function secondaryRepoOptions(usage: string): OptionSpec[] {
  return [
    { name: 'from-repo', kind: 'string', help: `source repository ${usage}`, env: 'RESTIC_FROM_REPOSITORY' },
    {
      name: 'from-repository-file',
      kind: 'string',
      help: `file from which to read the source repository location ${usage}`,
      env: 'RESTIC_FROM_REPOSITORY_FILE',
    },
    {
      name: 'from-password-file',
      kind: 'string',
      help: 'file to read the source repository password from',
      env: 'RESTIC_FROM_PASSWORD_FILE',
    },
    {
      name: 'from-key-hint',
      kind: 'string',
      help: 'key ID of key to try decrypting the source repository first',
      env: 'RESTIC_FROM_KEY_HINT',
    },
    {
      name: 'from-password-command',
      kind: 'string',
      help: 'shell command to obtain the source repository password from',
      env: 'RESTIC_FROM_PASSWORD_COMMAND',
    },
    { name: 'repo2', kind: 'string', help: 'deprecated: use --repo or --from-repo instead', env: 'RESTIC_REPOSITORY2' },
    {
      name: 'repository-file2',
      kind: 'string',
      help: 'deprecated: use --repository-file or --from-repository-file instead',
      env: 'RESTIC_REPOSITORY_FILE2',
    },
    { name: 'password-file2', kind: 'string', help: 'deprecated', env: 'RESTIC_PASSWORD_FILE2' },
    { name: 'key-hint2', kind: 'string', help: 'deprecated', env: 'RESTIC_KEY_HINT2' },
    { name: 'password-command2', kind: 'string', help: 'deprecated', env: 'RESTIC_PASSWORD_COMMAND2' },
  ];
}

/** [flag, environment variable] per field, for the from-repo group and the legacy *2 group */
const GROUPS = {
  from: {
    repo: ['from-repo', 'RESTIC_FROM_REPOSITORY'],
    repoFile: ['from-repository-file', 'RESTIC_FROM_REPOSITORY_FILE'],
    pwFile: ['from-password-file', 'RESTIC_FROM_PASSWORD_FILE'],
    keyHint: ['from-key-hint', 'RESTIC_FROM_KEY_HINT'],
    pwCommand: ['from-password-command', 'RESTIC_FROM_PASSWORD_COMMAND'],
    pwEnv: 'RESTIC_FROM_PASSWORD',
  },
  legacy: {
    repo: ['repo2', 'RESTIC_REPOSITORY2'],
    repoFile: ['repository-file2', 'RESTIC_REPOSITORY_FILE2'],
    pwFile: ['password-file2', 'RESTIC_PASSWORD_FILE2'],
    keyHint: ['key-hint2', 'RESTIC_KEY_HINT2'],
    pwCommand: ['password-command2', 'RESTIC_PASSWORD_COMMAND2'],
    pwEnv: 'RESTIC_PASSWORD2',
  },
} as const;
type Group = (typeof GROUPS)[keyof typeof GROUPS];
const FIELDS = ['repo', 'repoFile', 'pwFile', 'keyHint', 'pwCommand'] as const;

const value = (ctx: GlobalContext, [flag, env]: readonly [string, string]) =>
  (ctx.opts[flag] as string | undefined) || ctx.env[env] || undefined;
const anyOf = (ctx: GlobalContext, g: Group) => FIELDS.some((f) => value(ctx, g[f]));

/** Whether a secondary repository location was given (flags or environment). */
export function hasSecondaryRepo(ctx: GlobalContext): boolean {
  return [GROUPS.from, GROUPS.legacy].some((g) => value(ctx, g.repo) || value(ctx, g.repoFile));
}

export interface Secondary {
  ctx: GlobalContext;
  /** given with --from-repo (the secondary is the source); false for the deprecated --repo2 (the destination) */
  isFromRepo: boolean;
}

/**
 * restic's fillSecondaryGlobalOpts: a context for the secondary repository whose location,
 * password (RESTIC_FROM_PASSWORD or RESTIC_PASSWORD2, files, commands) and key hint replace
 * the primary ones; other options are shared.
 */
export function secondaryContext(ctx: GlobalContext): Secondary {
  if (!hasSecondaryRepo(ctx)) throw new UsageError('Please specify a source repository location (--from-repo or --from-repository-file)');
  const hasFrom = anyOf(ctx, GROUPS.from);
  if (hasFrom && anyOf(ctx, GROUPS.legacy))
    throw new UsageError('Option groups repo2 and from-repo are mutually exclusive, please specify only one');
  const g: Group = hasFrom ? GROUPS.from : GROUPS.legacy;
  const repo = value(ctx, g.repo);
  const repoFile = value(ctx, g.repoFile);
  if (repo && repoFile) {
    throw new UsageError(
      hasFrom
        ? 'Options --from-repo and --from-repository-file are mutually exclusive, please specify only one'
        : 'Options --repo2 and --repository-file2 are mutually exclusive, please specify only one',
    );
  }
  for (const name of ['repo2', 'repository-file2']) {
    if (ctx.opts[name] !== undefined)
      ctx.stderr(`Flag --${name} has been deprecated, use --${name.slice(0, -1)} or --from-${name.slice(0, -1)} instead\n`);
  }
  const opts = {
    ...ctx.opts,
    repo,
    'repository-file': repoFile,
    'password-file': value(ctx, g.pwFile),
    'password-command': value(ctx, g.pwCommand),
    'key-hint': value(ctx, g.keyHint),
  };
  const env: NodeJS.ProcessEnv = { ...ctx.env, RESTIC_PASSWORD: ctx.env[g.pwEnv] };
  for (const k of ['RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_KEY_HINT'])
    delete env[k];
  if (env.RESTIC_PASSWORD === undefined) delete env.RESTIC_PASSWORD;
  return { ctx: { ...ctx, opts, env }, isFromRepo: hasFrom };
}
