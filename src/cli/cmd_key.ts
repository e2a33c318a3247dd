import fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import type { KeyFile } from '../format/key.js';
import { goTimeToDate } from '../go/time.js';
import type { Command } from './command.js';
import { type GlobalContext, kdfOverride, openRepository, withLock } from './global.js';

/**
 * restic's `key list|add|remove|passwd`. list and add take a non-exclusive lock, remove
 * and passwd an exclusive one (as restic 0.14); the key in use is never removed.
 */
export const keyCommand: Command = {
  name: 'key',
  summary: 'Manage keys (passwords)',
  usage: 'restic-ts key [flags] [list|add|remove|passwd] [ID]',
  options: [
    { name: 'new-password-file', kind: 'string', help: 'file from which to read the new password' },
    { name: 'user', kind: 'string', help: 'the username for new keys' },
    { name: 'host', kind: 'string', help: 'the hostname for new keys' },
  ],
  async run(ctx, args) {
    const verb = args[0];
    if (!verb || (verb === 'remove' && args.length !== 2) || (verb !== 'remove' && args.length !== 1)) {
      throw new UsageError('wrong number of arguments');
    }
    if (!['list', 'add', 'remove', 'passwd'].includes(verb))
      throw new UsageError(`unknown key subcommand ${JSON.stringify(verb)}, use list, add, remove or passwd`);
    const repo = await openRepository(ctx);
    try {
      // restic's key command always locks (--no-lock does not apply)
      const locked = <T>(exclusive: boolean, fn: () => Promise<T>) => withLock(ctx, repo, exclusive, fn, { honourNoLock: false });
      switch (verb) {
        case 'list':
          await locked(false, () => listKeys(ctx, repo));
          break;
        case 'add':
          await locked(false, async () => {
            const id = await repo.addKey(newPassword(ctx), keyOptions(ctx, true));
            say(ctx, `saved new key as ${describeKey((await keyById(repo, id)).key)}\n`);
          });
          break;
        case 'remove':
          await locked(true, async () => {
            const id = await repo.resolveId('key', args[1]!);
            await repo.removeKey(id);
            say(ctx, `removed key ${id}\n`);
          });
          break;
        case 'passwd':
          await locked(true, async () => {
            const id = await repo.changePassword(newPassword(ctx), keyOptions(ctx, false));
            say(ctx, `saved new key as ${describeKey((await keyById(repo, id)).key)}\n`);
          });
          break;
      }
    } finally {
      await repo.close();
    }
    return 0;
  },
};

function say(ctx: GlobalContext, s: string): void {
  if (!ctx.quiet && !ctx.json) ctx.stdout(s);
}

/** scrypt as restic calibrates it, unless RESTIC_TS_SCRYPT chooses; --user/--host only for `add`. */
function keyOptions(ctx: GlobalContext, withWho: boolean) {
  return {
    kdf: kdfOverride(ctx.env),
    username: withWho ? (ctx.opts['user'] as string | undefined) : undefined,
    hostname: withWho ? (ctx.opts['host'] as string | undefined) : undefined,
  };
}

/** --new-password-file (trimmed, as restic does), else the first line of a non-terminal stdin. */
function newPassword(ctx: GlobalContext): string {
  const file = ctx.opts['new-password-file'] as string | undefined;
  let pw: string;
  if (file) {
    try {
      pw = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${file} does not exist`);
      throw new UsageError(`Readfile: ${(err as Error).message}`);
    }
  } else if (!process.stdin.isTTY) {
    pw = fs.readFileSync(0, 'utf8').split('\n')[0]!.replace(/\r$/, '');
  } else {
    throw new UsageError('please give the new password with --new-password-file');
  }
  if (!pw) throw new UsageError('an empty password is not allowed');
  return pw;
}

async function keyById(repo: Repository, id: string): Promise<{ id: string; key: KeyFile; current: boolean }> {
  const k = (await repo.listKeys()).find((x) => x.id === id);
  if (!k) throw new UsageError(`key ${id} vanished`);
  return k;
}

function describeKey(k: KeyFile): string {
  return `<Key of ${k.username}@${k.hostname}, created on ${k.created}>`;
}

/** "2006-01-02 15:04:05" in the local zone, as restic lists key times. */
function localTime(goTime: string): string {
  let d: Date;
  try {
    d = goTimeToDate(goTime);
  } catch {
    return goTime;
  }
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

async function listKeys(ctx: GlobalContext, repo: Repository): Promise<void> {
  const keys = (await repo.listKeys()).map((k) => ({
    current: k.current,
    id: k.id.slice(0, 8),
    userName: k.key.username,
    hostName: k.key.hostname,
    created: localTime(k.key.created),
  }));
  if (ctx.json) {
    ctx.stdout(JSON.stringify(keys.length ? keys : null) + '\n');
    return;
  }
  ctx.stdout(
    table(
      [' ID', 'User', 'Host', 'Created'],
      keys.map((k) => [`${k.current ? '*' : ' '}${k.id}`, k.userName, k.hostName, k.created]),
    ),
  );
}

/** restic's ui/table: columns padded to the widest cell, two spaces apart, a dashed rule under the header. */
function table(header: string[], rows: string[][]): string {
  const width = (s: string) => Buffer.byteLength(s);
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]!))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - width(c))))
      .join('  ')
      .replace(/ +$/, '') + '\n';
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1)) + '\n';
  return line(header) + rule + rows.map(line).join('') + rule;
}
