/**
 * Issue 18 item 3: SIGINT/SIGTERM honoured promptly in every command. Each test starts a
 * command on a repository big enough that it is busy when the signal comes, and asserts: exit
 * 130 (restic >= 0.17 for a cancelled command) with the one signal line, within a bound, no
 * lock and no temp file left, nothing written or deleted after the signal, restic check clean.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, type Node } from '../../dist/index.js';
import { TEST_SCRYPT } from '../helpers/cli.js';
import { requireRestic } from '../helpers/restic.js';
import { resticAsync } from '../helpers/spawn-async.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = process.env.RESTIC_TS_SIGNAL_CLI ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const PW = 'pw';
const KDF = { N: 1024, r: 8, p: 1 };
/** From the signal to the process's end: generous for a loaded 2-core machine, far below the old 10+ s. */
const EXIT_BOUND_MS = 3000;
beforeAll(requireRestic);
let tmp: { dir: string; cleanup: () => void };
let src: string;
let base: string;

const childEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', RESTIC_TS_SCRYPT: TEST_SCRYPT, RESTIC_PASSWORD: PW });

interface Interrupted {
  code: number | null;
  stderr: string;
  /** ms from the signal to the process's end; -1 when the trigger never fired */
  ms: number;
  /** what onSignal returned */
  atSignal: unknown;
  /** what onSignal returned again when the child's signal line arrived (its handler had run) */
  atHandled: unknown;
}

/**
 * Run our CLI and send `sig` once `when` (asked on output and every 10 ms) says so; then
 * `onSignal` runs at once (to record the repository's state at the signal).
 */
function interrupt(
  args: string[],
  sig: NodeJS.Signals,
  when: (stdout: string, elapsedMs: number, stdoutBytes: number) => boolean,
  onSignal: () => unknown = () => undefined,
): Promise<Interrupted> {
  const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const started = performance.now();
  let sentAt = -1;
  let atSignal: unknown;
  let atHandled: unknown;
  let stdout = '';
  let stdoutBytes = 0;
  let stderr = '';
  const fire = () => {
    if (sentAt >= 0 || !when(stdout, performance.now() - started, stdoutBytes)) return;
    child.kill(sig);
    sentAt = performance.now();
    atSignal = onSignal();
  };
  const poll = setInterval(fire, 10);
  // a process that ignores the signal is killed at last, and the test fails on its exit code
  const guard = setTimeout(() => child.kill('SIGKILL'), 240_000);
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    // the marker is looked for before the tail is cut: a busy machine delivers bigger pieces
    stdout += s;
    stdoutBytes += s.length;
    fire();
    stdout = stdout.slice(-4096);
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    // the child writes this line, then aborts its command, in one synchronous step
    if (sentAt >= 0 && atHandled === undefined && stderr.includes('received, cleaning up')) atHandled = onSignal();
  });
  return new Promise((resolve) =>
    child.on('close', (code) => {
      const ms = sentAt < 0 ? -1 : performance.now() - sentAt;
      clearInterval(poll);
      clearTimeout(guard);
      console.log(`${args.find((a) => !a.startsWith('-') && a !== args[1])}: ${sig} -> exit ${code} after ${ms.toFixed(0)} ms`);
      resolve({ code, stderr, ms, atSignal, atHandled });
    }),
  );
}

function files(repo: string, dir: string): string[] {
  const p = path.join(repo, dir);
  return fs.existsSync(p) ? fs.readdirSync(p) : [];
}

/** Every temp file in the repository (ours: *-tmp-*, pack-tmp-*). */
function tempFiles(repo: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (/-tmp-|^pack-tmp/.test(e.name)) out.push(path.join(d, e.name));
    }
  };
  walk(repo);
  return out;
}

/** Exit code, the one line, the bound, no lock, no temp file. */
function expectStopped(r: Interrupted, repo: string, sig: NodeJS.Signals): void {
  expect(r.ms, 'the signal was sent while the command ran').toBeGreaterThanOrEqual(0);
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toBe(`signal ${sig === 'SIGINT' ? 'interrupt' : 'terminated'} received, cleaning up\n`);
  expect(r.ms).toBeLessThanOrEqual(EXIT_BOUND_MS);
  expect(files(repo, 'locks')).toEqual([]);
  expect(tempFiles(repo)).toEqual([]);
}

async function resticCheckClean(repo: string): Promise<void> {
  const r = await resticAsync(repo, PW, ['check']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('no errors were found');
}

function copyRepo(name: string): string {
  const dir = path.join(tmp.dir, name);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

/** 12,000 small files in 60 directories, and 48 MiB of incompressible data (`label` makes it new). */
function makeSource(root: string, label = ''): void {
  for (let d = 0; d < 60; d++) {
    const dir = path.join(root, `d${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 200; f++) fs.writeFileSync(path.join(dir, `f${f}`), `file ${label}${d}/${f}\n`.repeat(1 + ((d * 7 + f) % 50)));
  }
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(root, `big${i}`), pseudoRandom(`${label}big${i}`, 16 * 1024 * 1024));
}

beforeAll(async () => {
  tmp = tempDir('h18-signals-');
  src = path.join(tmp.dir, 'src');
  makeSource(src);
  base = path.join(tmp.dir, 'base');
  await Repository.init(new LocalBackend(base), PW, { version: 2, kdf: KDF });
  const r = await new Promise<number | null>((resolve) =>
    spawn(process.execPath, [CLI, '-r', base, 'backup', '-q', src], { env: childEnv(), stdio: 'ignore' }).on('close', resolve),
  );
  expect(r).toBe(0);
}, 600_000);
afterAll(() => tmp.cleanup());

describe('a signal stops the command promptly and leaves the repository clean', () => {
  it('backup of a big tree (SIGINT): no snapshot written', async () => {
    const repo = copyRepo('backup');
    const before = files(repo, 'snapshots');
    // a second source so the backup has new data to store when the signal comes
    const src2 = path.join(tmp.dir, 'src2');
    makeSource(src2, 'new');
    const r = await interrupt(['-r', repo, 'backup', src2], 'SIGINT', (_, ms) => files(repo, 'locks').length > 0 && ms > 600);
    expectStopped(r, repo, 'SIGINT');
    expect(files(repo, 'snapshots')).toEqual(before);
    await resticCheckClean(repo);
  }, 300_000);

  it('forget without --dry-run (SIGTERM while deleting): nothing deleted after the signal', async () => {
    const repo = copyRepo('forget');
    const r0 = await Repository.open(new LocalBackend(repo), PW);
    const [first] = await r0.listSnapshots();
    const tree = first!.snapshot.tree!;
    const N = 6000;
    for (let i = 0; i < N; i++) {
      const time = new Date(Date.UTC(2020, 0, 1) + i * 3_600_000).toISOString();
      await r0.saveSnapshot({ time, tree, paths: [src], hostname: 'h', username: 'u', tags: [`t${i}`] });
    }
    await r0.close();
    const total = files(repo, 'snapshots').length;
    const r = await interrupt(
      ['-r', repo, 'forget', '--keep-last', '1', '--host', 'h'],
      'SIGTERM',
      () => files(repo, 'snapshots').length < total - 50,
      () => files(repo, 'snapshots').length,
    );
    expectStopped(r, repo, 'SIGTERM');
    const left = files(repo, 'snapshots').length;
    // Counted once the child's handler had run: deletes the child's event loop started between
    // the kernel's delivery and its handler are not "after the signal". From there, requests
    // already in flight (at most 8) may finish; nothing new starts.
    expect(r.atHandled, 'the signal line arrived').toBeTypeOf('number');
    expect(left).toBeGreaterThanOrEqual((r.atHandled as number) - 8);
    console.log(`forget: ${r.atSignal as number} at kill(), ${r.atHandled as number} at the handler, ${left} at exit`);
    expect(left).toBeGreaterThan(1);
    await resticCheckClean(repo);
  }, 600_000);

  it('prune (SIGTERM while repacking)', async () => {
    const repo = copyRepo('prune');
    // a second snapshot without the big files, the first one forgotten: prune must rewrite
    fs.rmSync(path.join(src, 'big1'));
    const b = await new Promise<number | null>((resolve) =>
      spawn(process.execPath, [CLI, '-r', repo, 'backup', '-q', src], { env: childEnv(), stdio: 'ignore' }).on('close', resolve),
    );
    fs.writeFileSync(path.join(src, 'big1'), pseudoRandom('big1', 16 * 1024 * 1024));
    expect(b).toBe(0);
    const f = await new Promise<number | null>((resolve) =>
      spawn(process.execPath, [CLI, '-r', repo, 'forget', '-q', '--keep-last', '1'], { env: childEnv(), stdio: 'ignore' }).on(
        'close',
        resolve,
      ),
    );
    expect(f).toBe(0);
    const r = await interrupt(['-r', repo, 'prune', '--max-unused', '0'], 'SIGTERM', (out) => out.includes('repacking packs'));
    expectStopped(r, repo, 'SIGTERM');
    await resticCheckClean(repo);
  }, 300_000);

  it('restore (SIGINT while writing files)', async () => {
    const target = path.join(tmp.dir, 'restore-target');
    const r = await interrupt(
      ['-r', base, 'restore', 'latest', '--target', target],
      'SIGINT',
      () => fs.existsSync(target) && fs.readdirSync(target).length > 0,
    );
    expectStopped(r, base, 'SIGINT');
  }, 300_000);

  it('check --read-data (SIGTERM while reading packs)', async () => {
    const r = await interrupt(['-r', base, 'check', '--read-data'], 'SIGTERM', (out) => out.includes('read all data'));
    expectStopped(r, base, 'SIGTERM');
  }, 300_000);
});

describe('a tree of 400,000 entries', () => {
  let repo: string;
  beforeAll(async () => {
    repo = path.join(tmp.dir, 'wide');
    const r = await Repository.init(new LocalBackend(repo), PW, { version: 2, kdf: KDF });
    const t = '2024-01-01T00:00:00Z';
    const nodes: Node[] = [];
    for (let i = 0; i < 400_000; i++) {
      const name = new Uint8Array(Buffer.from(`file-${String(i).padStart(7, '0')}`));
      nodes.push({
        name,
        type: 'file',
        mode: 0o644,
        mtime: t,
        atime: t,
        ctime: t,
        uid: 1000,
        gid: 1000,
        user: 'u',
        group: 'g',
        size: 0,
        content: [],
      });
    }
    const tree = await r.saveTree(nodes);
    await r.flush();
    await r.saveSnapshot({ time: t, tree, paths: ['/wide'], hostname: 'h', username: 'u' });
    await r.close();
  }, 600_000);

  it('ls -l (SIGTERM while listing)', async () => {
    const r = await interrupt(['-r', repo, 'ls', '-l', 'latest'], 'SIGTERM', (_, __, bytes) => bytes > 100_000);
    expectStopped(r, repo, 'SIGTERM');
  }, 300_000);

  it('ls (SIGINT while the tree is decoded)', async () => {
    const r = await interrupt(['-r', repo, 'ls', 'latest'], 'SIGINT', (_, ms) => ms > 1000);
    expectStopped(r, repo, 'SIGINT');
  }, 300_000);
});
