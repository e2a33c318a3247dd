/**
 * `che backup|restore`: chectl's `server:backup` / `server:restore` for scripts, without a
 * cluster. chectl's flags, environment names and semantics (`-p` is the password itself;
 * chectl src/commands/server/backup.ts and restore.ts), turned into a backup server
 * configuration as chectl did (src/operator/chectl.ts), then what Che's operator did with it:
 * initialise a missing repository, `restic check`, back up a directory in Che's layout as
 * `restic backup .` (or restore a snapshot into a directory), report the stages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import {
  type ChectlCredentials,
  type OperationOptions,
  type RepositoryCheckOptions,
  type ResolvedBackupServer,
  type SftpHostKeyOptions,
  type StatusEvent,
  backupCheDirectory,
  cheBackupStatus,
  cheRestoreStatus,
  chectlBackupServer,
  resolveBackupServer,
  restoreCheInstallation,
} from '../operator/index.js';
import type { Command } from './command.js';
import { type GlobalContext, kdfOverride, readPassword } from './global.js';

const str = (ctx: GlobalContext, name: string, env?: string): string | undefined =>
  (ctx.opts[name] as string | undefined) ?? (env !== undefined ? ctx.env[env] || undefined : undefined);

export const cheCommand: Command = {
  name: 'che',
  summary: "Back up or restore a Che installation directory with chectl's flags",
  usage: 'restic-ts che backup [flags] DIR\n  restic-ts che restore [flags] -s SNAPSHOT_ID --target DIR',
  options: [
    {
      name: 'repository-url',
      short: 'r',
      kind: 'string',
      help: 'full address of the backup repository, as restic',
      env: 'BACKUP_REPOSITORY_URL',
    },
    { name: 'repository-password', short: 'p', kind: 'string', help: 'the repository password itself', env: 'BACKUP_REPOSITORY_PASSWORD' },
    { name: 'username', kind: 'string', help: 'user name for the REST server', env: 'REST_SERVER_USERNAME' },
    { name: 'password', kind: 'string', help: 'password for the REST server', env: 'REST_SERVER_PASSWORD' },
    { name: 'aws-access-key-id', kind: 'string', help: 'AWS access key ID', env: 'AWS_ACCESS_KEY_ID' },
    { name: 'aws-secret-access-key', kind: 'string', help: 'AWS secret access key', env: 'AWS_SECRET_ACCESS_KEY' },
    { name: 'ssh-key', kind: 'string', help: 'private SSH key for the SFTP server', env: 'SSH_KEY' },
    { name: 'ssh-key-file', kind: 'string', help: 'file with the private SSH key for the SFTP server', env: 'SSH_KEY_FILE' },
    { name: 'snapshot-id', short: 's', kind: 'string', help: 'restore: snapshot ID (8-character short ID, full ID or "latest")' },
    { name: 'target', short: 't', kind: 'string', help: 'restore: directory to restore into' },
    { name: 'host', short: 'H', kind: 'string', help: 'backup: host name for the snapshot (default: this host)', env: 'RESTIC_HOST' },
    { name: 'no-check', kind: 'bool', help: 'skip the repository check Che ran before every backup and restore' },
    { name: 'read-data-subset', kind: 'string', help: "also read this subset of the data in the check ('n/t', 'x%' or a size)" },
    { name: 'backup-server-config-name', kind: 'string', help: 'not supported: needs a Kubernetes cluster; give -r and -p' },
    { name: 'batch', kind: 'bool', help: 'accepted for chectl compatibility (nothing is asked anyway)' },
    { name: 'chenamespace', short: 'n', kind: 'string', help: 'accepted for chectl compatibility (no cluster is used)' },
    { name: 'telemetry', kind: 'string', help: 'accepted for chectl compatibility (nothing is sent)' },
  ],
  async run(ctx, args) {
    const [sub, ...rest] = args;
    if (ctx.opts['backup-server-config-name'] !== undefined) {
      throw new UsageError('--backup-server-config-name needs a Kubernetes cluster; give the repository with -r and -p instead');
    }
    if (sub === 'backup') return cheBackup(ctx, rest);
    if (sub === 'restore') return cheRestore(ctx, rest);
    throw new UsageError(`che: expected "backup" or "restore", got ${sub === undefined ? 'nothing' : JSON.stringify(sub)}`);
  },
};

/** chectl's flags (then its environment names) → configuration, secrets → a resolved server. */
function serverFromFlags(ctx: GlobalContext): ResolvedBackupServer {
  const url = str(ctx, 'repository-url', 'BACKUP_REPOSITORY_URL') ?? str(ctx, 'repo', 'RESTIC_REPOSITORY');
  if (!url) throw new UsageError('Parameter repository-url required (-r or BACKUP_REPOSITORY_URL)');
  const creds: ChectlCredentials = {
    repositoryPassword: repositoryPassword(ctx),
    username: str(ctx, 'username', 'REST_SERVER_USERNAME'),
    password: str(ctx, 'password', 'REST_SERVER_PASSWORD'),
    awsAccessKeyId: str(ctx, 'aws-access-key-id', 'AWS_ACCESS_KEY_ID'),
    awsSecretAccessKey: str(ctx, 'aws-secret-access-key', 'AWS_SECRET_ACCESS_KEY'),
    sshKey: sshKey(ctx),
  };
  const { configuration, secrets, warnings } = chectlBackupServer(url, creds);
  for (const w of warnings) ctx.stderr(`Warning: ${w}\n`);
  return resolveBackupServer(configuration, secrets, hostKeyOptions(ctx));
}

function repositoryPassword(ctx: GlobalContext): string {
  const pw = str(ctx, 'repository-password', 'BACKUP_REPOSITORY_PASSWORD');
  if (pw !== undefined) return pw;
  // restic's own ways, when one is given; never a prompt or stdin.
  const e = ctx.env;
  if (
    ctx.opts['password-file'] ||
    ctx.opts['password-command'] ||
    e.RESTIC_PASSWORD_FILE ||
    e.RESTIC_PASSWORD_COMMAND ||
    e.RESTIC_PASSWORD !== undefined
  ) {
    return readPassword(ctx);
  }
  throw new UsageError('Parameter repository-password required (-p or BACKUP_REPOSITORY_PASSWORD)');
}

/** `--ssh-key` or the trimmed content of `--ssh-key-file`, exactly one (chectl's rule). */
function sshKey(ctx: GlobalContext): string | undefined {
  const key = str(ctx, 'ssh-key', 'SSH_KEY');
  const file = str(ctx, 'ssh-key-file', 'SSH_KEY_FILE');
  if (key && file) throw new UsageError('Only one of ssh-key and ssh-key-file parameters should be provided');
  if (!file) return key;
  if (!fs.existsSync(file)) throw new UsageError(`File ${file} with SSH key doesn't exist`);
  return fs.readFileSync(file, 'utf8').trim();
}

/** `-o key=value` options, for the backend. */
function extendedOptions(ctx: GlobalContext): Record<string, string> {
  const o: Record<string, string> = {};
  for (const kv of (ctx.opts['option'] as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    o[(i < 0 ? kv : kv.slice(0, i)).trim()] = i < 0 ? '' : kv.slice(i + 1);
  }
  return o;
}

/** SFTP host keys: `-o sftp.known-hosts=FILE`, `-o sftp.insecure-host-key=true`, else ~/.ssh/known_hosts. */
function hostKeyOptions(ctx: GlobalContext): SftpHostKeyOptions {
  const o = extendedOptions(ctx);
  if (o['sftp.insecure-host-key'] === 'true') return { insecureHostKey: true };
  return { knownHostsFile: o['sftp.known-hosts'] || path.join(ctx.env.HOME || os.homedir(), '.ssh', 'known_hosts') };
}

function commonOptions(ctx: GlobalContext, events: StatusEvent[]): OperationOptions {
  let check: boolean | RepositoryCheckOptions = !ctx.opts['no-check'];
  const subset = ctx.opts['read-data-subset'] as string | undefined;
  if (subset !== undefined) {
    if (!check) throw new UsageError('--read-data-subset and --no-check cannot be used together');
    check = { readDataSubset: subset };
  }
  let last = '';
  return {
    check,
    signal: ctx.signal,
    kdf: kdfOverride(ctx.env),
    cacert: ctx.opts['cacert'] as string[] | undefined,
    extended: extendedOptions(ctx),
    onStatus: (e) => {
      events.push(e);
      // chectl showed each stage as it came ("Waiting until backup process finishes: <stage>").
      if (e.state === 'InProgress' && e.stage !== last && !ctx.quiet && !ctx.json) ctx.stdout(`${e.stage}...\n`);
      last = e.stage;
    },
  };
}

async function cheBackup(ctx: GlobalContext, args: string[]): Promise<number> {
  if (args.length !== 1) throw new UsageError('che backup expects one directory (a Che backup directory: che-cr.yaml, db/, ...)');
  const dir = path.resolve(args[0]!);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${args[0]} is not a directory`);
  if (!fs.statSync(path.join(dir, 'che-cr.yaml'), { throwIfNoEntry: false })?.isFile()) {
    throw new UsageError(`${args[0]} is not a Che backup directory: it has no che-cr.yaml`);
  }
  const server = serverFromFlags(ctx);
  const events: StatusEvent[] = [];
  const out = await backupCheDirectory({ server }, dir, {
    ...commonOptions(ctx, events),
    hostname: str(ctx, 'host', 'RESTIC_HOST') ?? os.hostname(),
  });
  if (ctx.json) ctx.stdout(JSON.stringify(cheBackupStatus(events.at(-1)!)) + '\n');
  else ctx.stdout(`Backup snapshot ID: ${out.shortId}\n`);
  return 0;
}

async function cheRestore(ctx: GlobalContext, args: string[]): Promise<number> {
  if (args.length) throw new UsageError(`che restore takes no arguments (got ${args.join(' ')}); give -s SNAPSHOT_ID --target DIR`);
  const id = ctx.opts['snapshot-id'] as string | undefined;
  if (!id) throw new UsageError('"--snapshot-id" flag is required');
  const target = ctx.opts['target'] as string | undefined;
  if (!target) throw new UsageError('please specify a directory to restore to (--target)');
  const server = serverFromFlags(ctx);
  const events: StatusEvent[] = [];
  const r = await restoreCheInstallation({ server }, id, { ...commonOptions(ctx, events), target: path.resolve(target) });
  await r.close();
  if (ctx.json) ctx.stdout(JSON.stringify({ ...cheRestoreStatus(events.at(-1)!), snapshotId: r.installation.shortId }) + '\n');
  else ctx.stdout(`Restored backup snapshot ${r.installation.shortId} into ${target}\n`);
  return 0;
}
