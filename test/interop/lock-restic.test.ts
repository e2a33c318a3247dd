/**
 * Locks between restic-ts and the real restic 0.14: each refuses exclusive work while the
 * other holds a lock, stale locks of killed restic-ts processes clear themselves, unlock
 * matches restic's, and SIGINT during a backup releases the lock and leaves no snapshot.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SCRYPT, cli } from '../helpers/cli.js';
import { RESTIC, requireRestic, restic } from '../helpers/restic.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const PW = 'lock-test';
const env = { RESTIC_PASSWORD: PW };
let tmp: ReturnType<typeof tempDir>;
let n = 0;
const children = new Set<ChildProcess>();

beforeAll(() => {
  tmp = tempDir('restic-ts-locks-');
});
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
});
afterAll(() => tmp.cleanup());

function newRepo(): string {
  const repo = path.join(tmp.dir, `repo${n++}`);
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
  return repo;
}

function lockFiles(repo: string): string[] {
  try {
    return fs.readdirSync(path.join(repo, 'locks')).filter((f) => /^[0-9a-f]{64}$/.test(f));
  } catch {
    return [];
  }
}

function snapshotFiles(repo: string): string[] {
  return fs.readdirSync(path.join(repo, 'snapshots')).filter((f) => /^[0-9a-f]{64}$/.test(f));
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(cmd: string, args: string[], extraEnv: Record<string, string>): Running {
  const child = spawn(cmd, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ, RESTIC_TS_SCRYPT: TEST_SCRYPT, ...extraEnv },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  child.stdin!.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** restic-ts `backup --stdin` that holds its lock until stdin ends. */
function ourBackup(repo: string, extra: string[] = []): Running {
  return start(process.execPath, [CLI, '-r', repo, ...extra, 'backup', '--stdin', '--stdin-filename', 'data.bin'], env);
}

function resticBackup(repo: string): Running {
  return start(RESTIC, ['-r', repo, '--no-cache', 'backup', '--stdin', '--stdin-filename', 'data.bin'], env);
}

/** Wait (bounded) until `cond` holds; fails the test with `what` otherwise. */
async function until(what: string, cond: () => boolean, r?: Running): Promise<void> {
  const end = Date.now() + 60_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${r ? `\nstderr: ${r.stderr()}` : ''}`);
    if (r && r.child.exitCode !== null) throw new Error(`process exited (${r.child.exitCode}) before ${what}\n${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Wait until a process holds a lock that another process can see (written and visible). */
async function holdsLock(repo: string, r: Running): Promise<void> {
  await until('a lock file', () => lockFiles(repo).length > 0, r);
  // restic and restic-ts re-check 200 ms after writing; let that pass so the holder is settled
  await new Promise((res) => setTimeout(res, 400));
}

beforeAll(requireRestic);

describe('restic-ts holds a lock', () => {
  it('restic refuses exclusive work, and restic unlock leaves our live lock alone', async () => {
    const repo = newRepo();
    const b = ourBackup(repo);
    b.child.stdin!.write(pseudoRandom('a', 100_000));
    await holdsLock(repo, b);
    for (const cmd of [['check'], ['prune']]) {
      const r = restic(repo, PW, cmd);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        `unable to create lock in backend: repository is already locked by PID ${b.child.pid} on ${os.hostname()}`,
      );
    }
    // restic probes a holder on its host with SIGHUP: our process must survive it, and the lock is not stale
    const unlock = restic(repo, PW, ['unlock']);
    expect(unlock.code).toBe(0);
    expect(lockFiles(repo).length).toBe(1);
    expect(b.child.exitCode).toBe(null);
    b.child.stdin!.end(pseudoRandom('b', 100_000));
    const { code } = await b.exited;
    expect(code).toBe(0);
    expect(lockFiles(repo)).toEqual([]);
    expect(snapshotFiles(repo).length).toBe(1);
    expect(restic(repo, PW, ['check']).code).toBe(0);
  }, 120_000);
});

describe('restic holds a lock', () => {
  it('restic-ts refuses an exclusive operation with exit 11 and one line naming the holder', async () => {
    const repo = newRepo();
    const b = resticBackup(repo);
    b.child.stdin!.write('some data\n');
    await holdsLock(repo, b);
    const r = cli(['-r', repo, 'key', 'passwd', '--new-password-file', '/dev/null'], env);
    expect(r.code).toBe(11);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^Fatal: unable to create lock in backend: repository is already locked by PID ${b.child.pid} on ${os.hostname()} by \\S+ \\(UID \\d+, GID \\d+\\), lock was created at .+ \\(.+ ago\\), storage ID [0-9a-f]{8}$`,
      ),
    );
    // a shared lock is compatible with restic's shared lock
    expect(cli(['-r', repo, 'snapshots'], env).code).toBe(0);
    // restic-ts unlock does not remove a live lock; --remove-all does (as restic's)
    expect(cli(['-r', repo, 'unlock'], env).code).toBe(0);
    expect(lockFiles(repo).length).toBe(1);
    expect(cli(['-r', repo, 'unlock', '--remove-all'], env)).toMatchObject({ code: 0, stdout: 'successfully removed locks\n' });
    expect(lockFiles(repo)).toEqual([]);
    // restic itself now retries removing its vanished lock for minutes; no need to watch that
    b.child.kill('SIGKILL');
    await b.exited;
  }, 120_000);

  it('--retry-lock waits until restic releases its lock, then proceeds', async () => {
    const repo = newRepo();
    const b = resticBackup(repo);
    b.child.stdin!.write('some data\n');
    await holdsLock(repo, b);
    const pwFile = path.join(tmp.dir, `pw${n++}`);
    fs.writeFileSync(pwFile, 'after-retry\n');
    const w = start(process.execPath, [CLI, '-r', repo, '--retry-lock', '2m', 'key', 'passwd', '--new-password-file', pwFile], env);
    await until('the waiting message', () => w.stderr().includes('repo already locked, waiting up to'), w);
    expect(w.child.exitCode).toBe(null);
    b.child.stdin!.end();
    expect((await b.exited).code).toBe(0);
    const res = await w.exited;
    expect(res.code, w.stderr()).toBe(0);
    expect(w.stdout()).toMatch(/^saved new key as <Key of /);
    expect(restic(repo, 'after-retry', ['snapshots', '--json']).code).toBe(0);
  }, 120_000);
});

describe('stale locks', () => {
  it('a lock left by a SIGKILLed restic-ts is cleared by the next restic-ts operation, with a message', async () => {
    const repo = newRepo();
    const b = ourBackup(repo);
    b.child.stdin!.write(pseudoRandom('k', 50_000));
    await holdsLock(repo, b);
    const [stale] = lockFiles(repo);
    b.child.kill('SIGKILL');
    await b.exited;
    expect(lockFiles(repo)).toEqual([stale]);
    // migrate takes an exclusive lock; nothing applies to a v2 repository
    const r = cli(['-r', repo, 'migrate'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`removed stale lock held by ${r.stderr.slice('removed stale lock held by '.length).trimEnd()}\n`);
    expect(r.stderr).toMatch(
      new RegExp(`^removed stale lock held by PID ${b.child.pid} on ${os.hostname()} .*storage ID ${stale!.slice(0, 8)}\\n$`),
    );
    expect(r.stdout).toContain('available migrations:');
    expect(lockFiles(repo)).toEqual([]);
    expect(restic(repo, PW, ['check']).code).toBe(0);
  }, 120_000);

  it('restic unlock judges a killed restic-ts lock stale too; restic-ts unlock removes it as well', async () => {
    const repo = newRepo();
    for (const tool of ['restic', 'restic-ts'] as const) {
      const b = ourBackup(repo);
      b.child.stdin!.write('x');
      await holdsLock(repo, b);
      b.child.kill('SIGKILL');
      await b.exited;
      expect(lockFiles(repo).length).toBe(1);
      const r = tool === 'restic' ? restic(repo, PW, ['unlock']) : cli(['-r', repo, 'unlock'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('successfully removed locks');
      expect(lockFiles(repo)).toEqual([]);
    }
  }, 120_000);
});

describe('signals', () => {
  it('SIGINT during a backup: exit 130, lock removed, no snapshot, restic check clean', async () => {
    const repo = newRepo();
    const b = ourBackup(repo);
    // Enough that uploaded packs exist when the signal comes while stdin stays open: unfinished
    // are up to 8 MiB the chunker holds back, the first 8 MiB encoded in-process (one open pack)
    // and an open pack of < 16 MiB on each of up to 4 workers — 96 MiB always finishes one.
    b.child.stdin!.write(pseudoRandom('big', 96 * 1024 * 1024));
    await until(
      'an uploaded pack',
      () =>
        fs
          .readdirSync(path.join(repo, 'data'))
          .some((d) => fs.readdirSync(path.join(repo, 'data', d)).some((f) => /^[0-9a-f]{64}$/.test(f))),
      b,
    );
    expect(lockFiles(repo).length).toBe(1);
    b.child.kill('SIGINT');
    const { code } = await b.exited;
    expect(code).toBe(130);
    expect(b.stderr()).toContain('signal interrupt received, cleaning up');
    expect(lockFiles(repo)).toEqual([]);
    expect(snapshotFiles(repo)).toEqual([]);
    const check = restic(repo, PW, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('no errors were found');
  }, 120_000);

  it('SIGTERM also releases the lock (exit 130, as restic >= 0.17)', async () => {
    const repo = newRepo();
    const b = ourBackup(repo);
    b.child.stdin!.write('y');
    await holdsLock(repo, b);
    b.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(130);
    expect(lockFiles(repo)).toEqual([]);
    expect(snapshotFiles(repo)).toEqual([]);
  }, 60_000);
});

describe('--retry-lock flag', () => {
  it('rejects a value that is not a Go duration with one line', () => {
    const repo = newRepo();
    const r = cli(['-r', repo, '--retry-lock', '5x', 'snapshots'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Fatal: invalid argument "5x" for "--retry-lock" flag: time: invalid duration "5x"\n');
  });
});
