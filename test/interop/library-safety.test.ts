/**
 * The library as a good citizen (issue 15): operations take restic's locks by default and
 * honour a lock restic holds; every long operation stops on its AbortSignal with a typed
 * error, leaving no lock, no snapshot, no temp file and a repository restic checks clean;
 * bad arguments get a UsageError, not a TypeError from deep inside.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  LocalBackend,
  LockError,
  Repository,
  type ResticError,
  UsageError,
  backup,
  backupEntries,
  check,
  forget,
  prune,
  restore,
} from '../../src/index.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';
import { nodeFs } from '../../src/archiver/fs.js';
import { RESTIC, requireRestic, restic } from '../helpers/restic.js';
import { generateTree, pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const PW = 'library-safety';
let tmp: ReturnType<typeof tempDir>;
let n = 0;
const children = new Set<ChildProcess>();
const opened: Repository[] = [];

beforeAll(() => {
  tmp = tempDir('restic-ts-libsafety-');
});
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const r of opened.splice(0)) await r.close().catch(() => undefined);
});
afterAll(() => tmp.cleanup());

async function newRepo(): Promise<{ dir: string; repo: Repository }> {
  const dir = path.join(tmp.dir, `repo${n++}`);
  const repo = await Repository.init(new LocalBackend(dir), PW, { kdf: TEST_KDF_PARAMS });
  opened.push(repo);
  return { dir, repo };
}

async function reopen(dir: string): Promise<Repository> {
  const repo = await Repository.open(new LocalBackend(dir), PW);
  opened.push(repo);
  return repo;
}

const ids = (dir: string, sub: string) => {
  try {
    return fs.readdirSync(path.join(dir, sub)).filter((f) => /^[0-9a-f]{64}$/.test(f));
  } catch {
    return [];
  }
};

/** Files in data/ that are not packs (temp files left behind). */
function strayDataFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of fs.readdirSync(path.join(dir, 'data'))) {
    for (const f of fs.readdirSync(path.join(dir, 'data', sub))) if (!/^[0-9a-f]{64}$/.test(f)) out.push(`${sub}/${f}`);
  }
  return out;
}

/** An AbortController that fires at the k-th call of the returned tick (k random in [1, max]). */
function abortAtRandom(max: number): { ac: AbortController; tick: () => void; at: number } {
  const ac = new AbortController();
  const at = 1 + Math.floor(Math.random() * max);
  let calls = 0;
  return { ac, at, tick: () => ++calls === at && ac.abort(new Error('test abort')) };
}

async function expectAborted(p: Promise<unknown>, dir: string, what: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `${what} should have been aborted`).toBeInstanceOf(AbortedError);
  expect((err as ResticError).code).toBe('ABORTED');
  expect((err as ResticError).exitCode).toBe(130);
  expect(ids(dir, 'locks'), `${what}: lock left behind`).toEqual([]);
  expect(strayDataFiles(dir), `${what}: temp files left behind`).toEqual([]);
}

function expectResticCheckClean(dir: string): void {
  const r = restic(dir, PW, ['check']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

beforeAll(requireRestic);

describe('locks by default', () => {
  it('prune rejects with LOCKED while restic 0.14 holds a lock; lock:false is the caller choice', async () => {
    const { dir, repo } = await newRepo();
    await backupEntries(repo, [{ path: 'a.txt', content: 'hello\n' }]);
    const child = spawn(RESTIC, ['-r', dir, '--no-cache', 'backup', '--stdin', '--stdin-filename', 'x.bin'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RESTIC_PASSWORD: PW },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    children.add(child);
    child.stdin!.on('error', () => {});
    child.stdin!.write('held open\n');
    const end = Date.now() + 60_000;
    while (ids(dir, 'locks').length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 400)); // restic re-checks 200 ms after writing
    expect(ids(dir, 'locks').length).toBe(1);

    const err = await prune(repo, { dryRun: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect((err as ResticError).code).toBe('LOCKED');
    expect((err as Error).message).toContain(`repository is already locked by PID ${child.pid}`);
    // The same through a check and a forget, which restic runs exclusively too.
    expect(((await check(repo).catch((e: unknown) => e)) as ResticError).code).toBe('LOCKED');
    expect(((await forget(repo, { policy: { last: 1 } }).catch((e: unknown) => e)) as ResticError).code).toBe('LOCKED');
    // A shared operation runs beside restic's shared lock, as restic's own backups do.
    await backupEntries(repo, [{ path: 'b.txt', content: 'beside\n' }]);
    // Opting out: the caller decides (dry run, so nothing restic writes is touched).
    const dry = await prune(repo, { dryRun: true, lock: false });
    expect(dry.dryRun).toBe(true);

    child.stdin!.end('done\n');
    await new Promise((r) => child.on('close', r));
    expect(ids(dir, 'locks')).toEqual([]);
    expectResticCheckClean(dir);
  }, 120_000);

  it('another holder of an exclusive lock blocks backup; a passed lock is used; locks are released', async () => {
    const { dir, repo } = await newRepo();
    const other = await reopen(dir);
    const held = await other.acquireLock(true);
    const err = await backupEntries(repo, [{ path: 'a', content: 'x' }]).catch((e: unknown) => e);
    expect((err as ResticError).code).toBe('LOCKED');
    expect(ids(dir, 'snapshots')).toEqual([]);
    // The holder passes its lock (or runs under it): no second lock, no conflict with itself.
    await backupEntries(other, [{ path: 'a', content: 'x' }], { lock: held });
    await prune(other, { lock: held });
    await prune(other); // the repository knows it holds an exclusive lock
    expect(ids(dir, 'locks').length).toBe(1);
    await held.release();
    expect(ids(dir, 'locks')).toEqual([]);
    // A shared lock is not enough for prune.
    const shared = await repo.acquireLock(false);
    const usage = await prune(repo, { lock: shared }).catch((e: unknown) => e);
    expect(usage).toBeInstanceOf(UsageError);
    await shared.release();
    // By default an operation leaves no lock behind.
    await backupEntries(repo, [{ path: 'b', content: 'y' }]);
    expect(ids(dir, 'locks')).toEqual([]);
  }, 120_000);
});

describe('abort at a random moment', () => {
  let src: string;
  beforeAll(() => {
    src = path.join(tmp.dir, 'src');
    generateTree(src, { bigFileSize: 12 * 1024 * 1024 });
  });

  it('backup: ABORTED, no snapshot, no lock, no temp file, restic check clean', async () => {
    const { dir, repo } = await newRepo();
    const { ac, tick, at } = abortAtRandom(230);
    const run = backup(repo, [src], { signal: ac.signal, onItem: tick });
    await expectAborted(run, dir, `backup aborted at item ${at}`);
    expect(ids(dir, 'snapshots')).toEqual([]);
    expectResticCheckClean(dir);
    // The repository stays usable: the next backup completes.
    const again = await backup(repo, [src]);
    expect(ids(dir, 'snapshots')).toEqual([again.snapshotId]);
  }, 180_000);

  it('backup aborted in the middle of a large file', async () => {
    const { dir, repo } = await newRepo();
    const ac = new AbortController();
    let bytes = 0;
    // Reads counted through the file-system hook: the abort lands inside the 12 MiB file.
    const fs2 = {
      ...nodeFs,
      read: (fd: number, buf: Uint8Array, off: number, len: number, pos: number) => {
        const got = nodeFs.read(fd, buf, off, len, pos);
        bytes += got;
        if (got >= 1024 * 1024 && bytes > 4 * 1024 * 1024) ac.abort();
        return got;
      },
    };
    const run = backup(repo, [src], { signal: ac.signal, fs: fs2 });
    await expectAborted(run, dir, 'backup in a large file');
    expect(ids(dir, 'snapshots')).toEqual([]);
    expectResticCheckClean(dir);
  }, 180_000);

  it('restore, check and prune: ABORTED, no lock left, restic check clean', async () => {
    const { dir, repo } = await newRepo();
    const first = await backup(repo, [src]);
    fs.writeFileSync(path.join(src, 'extra.bin'), pseudoRandom('extra', 3 * 1024 * 1024));
    await backup(repo, [src]);

    // How many progress calls a whole run makes, so the abort lands inside one.
    let restoreTicks = 0;
    await restore(repo, first.snapshotId, path.join(tmp.dir, `full${n++}`), { progressInterval: 0, onProgress: () => restoreTicks++ });
    let checkTicks = 0;
    await check(repo, { readData: true, onProgress: () => checkTicks++ });
    expect(restoreTicks).toBeGreaterThan(10);

    const r = abortAtRandom(restoreTicks - 1);
    const target = path.join(tmp.dir, `restore${n++}`);
    await expectAborted(
      restore(repo, first.snapshotId, target, { signal: r.ac.signal, progressInterval: 0, onProgress: r.tick }),
      dir,
      `restore at ${r.at}`,
    );

    const c = abortAtRandom(checkTicks - 1);
    await expectAborted(check(repo, { readData: true, signal: c.ac.signal, onProgress: c.tick }), dir, `check at ${c.at}`);

    await forget(repo, { policy: { last: 1 } });
    const p = abortAtRandom(4);
    const steps: string[] = [];
    const run = prune(repo, {
      maxUnused: '0%',
      signal: p.ac.signal,
      onStep: (s) => {
        steps.push(s);
        p.tick();
      },
    });
    await expectAborted(run, dir, `prune at step ${p.at}`);
    expectResticCheckClean(dir);
    // A prune after the aborted one finishes the job, and restic still agrees.
    await prune(repo, { maxUnused: '0%' });
    expectResticCheckClean(dir);
  }, 300_000);

  it('an already aborted signal stops open, init and each operation before it starts', async () => {
    const { dir, repo } = await newRepo();
    const signal = AbortSignal.abort();
    const never = path.join(tmp.dir, `never${n++}`);
    for (const f of [
      () => Repository.open(new LocalBackend(dir), PW, { signal }),
      () => Repository.init(new LocalBackend(never), PW, { kdf: TEST_KDF_PARAMS, signal }),
      () => backupEntries(repo, [{ path: 'a', content: 'x' }], { signal }),
      () => prune(repo, { signal }),
    ]) {
      const err = await f().then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as ResticError).code).toBe('ABORTED');
    }
    expect(ids(dir, 'locks')).toEqual([]);
    expect(fs.existsSync(path.join(never, 'config'))).toBe(false);
  });
});

describe('argument validation', () => {
  it('wrong types get a UsageError with code USAGE, not a TypeError', async () => {
    const { dir, repo } = await newRepo();
    const backend = new LocalBackend(dir);
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['password object', () => Repository.open(backend, { password: PW } as unknown as string)],
      ['no backend', () => Repository.open('/tmp/x' as unknown as LocalBackend, PW)],
      ['bad signal', () => Repository.open(backend, PW, { signal: 'soon' as unknown as AbortSignal })],
      ['backup targets', () => backup(repo, '/etc' as unknown as string[])],
      ['repo not opened', () => prune({} as Repository)],
      ['restore target', () => restore(repo, 'latest', 42 as unknown as string)],
      ['lock option', () => prune(repo, { lock: 'yes' as unknown as boolean })],
    ];
    for (const [what, f] of cases) {
      const err = await f().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(UsageError);
      expect((err as ResticError).code, what).toBe('USAGE');
      expect((err as Error).message.split('\n').length, what).toBe(1);
    }
    expect(ids(dir, 'locks')).toEqual([]);
  });
});
