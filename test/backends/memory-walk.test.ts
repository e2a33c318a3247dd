/**
 * Issue 14: the read commands walk trees streaming, so their memory does not grow with the
 * snapshot's file count beyond the in-memory index. Each command runs inside a memory cgroup
 * (created here, as root, v1 or v2) whose limit fits the small repository's run with room to
 * spare; the repository ten times its size must fit the same limit and add little to the peak.
 * - `ls --json` and `check` over snapshots whose files share a few contents: the index stays
 *   tiny, the trees grow with the file count, so only the walk could grow;
 * - `check --read-data` over a pack of 100,000 small blobs: the pack's entries travel to the
 *   verifying worker as typed arrays, not as an object per blob (the old code needed far more);
 * - `check` (also `--read-data`) and `restore --dry-run` of 200,000 distinct blobs listed by
 *   one index file, as restic writes them: on a tight budget the file is decompressed and
 *   scanned in pieces, and packs are verified on this thread when the budget allows no worker
 *   (the old code, which held the JSON whole, was killed even at 128 MiB).
 * These are memory bounds, not timings.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, type Node } from '../../src/index.js';
import { decodeIndex } from '../../src/format/index-file.js';
import { type CgroupResult, describeRun, findHierarchy, withMemoryCgroup } from '../helpers/cgroup.js';
import { TEST_SCRYPT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const MiB = 1024 * 1024;
const PASSWORD = 'memory-walk';
const T = '2024-01-02T03:04:05.123456789Z';
const PER_DIR = 500;
/** The walks need about 45 MiB whatever the file count: the stretch target. */
const LIMIT_WALK = 96 * MiB;
/** The target; the code before typed-array pack entries was killed even at 160 MiB. */
const LIMIT_READ = 128 * MiB;
/** What the bigger snapshot may add to the cgroup's peak charge (its index is as small). */
const GROWTH = 16 * MiB;

let tmp: { dir: string; cleanup: () => void };

const node = (name: string, extra: Partial<Node>): Node => ({
  name: Buffer.from(name),
  type: 'file',
  mode: 0o644,
  mtime: T,
  atime: T,
  ctime: T,
  uid: 1000,
  gid: 1000,
  content: null,
  ...extra,
});

/**
 * A repository with one snapshot of `files` files in directories of 500, written through the
 * library (no files on disk). File i holds `content(i)`: shared contents keep the index small.
 */
async function makeRepo(dir: string, files: number, content: (i: number) => string): Promise<void> {
  const repo = await Repository.init(new LocalBackend(dir), PASSWORD, { kdf: { N: 1024, r: 8, p: 1 }, workers: 0 });
  const dirs: Node[] = [];
  for (let d = 0; d * PER_DIR < files; d++) {
    const nodes: Node[] = [];
    for (let i = d * PER_DIR; i < Math.min(files, (d + 1) * PER_DIR); i++) {
      const b = Buffer.from(content(i));
      const { id } = await repo.saveBlob('data', b);
      nodes.push(node(`f${String(i).padStart(7, '0')}`, { content: [id], size: b.length, inode: BigInt(i + 1), links: 1 }));
    }
    const subtree = await repo.saveTree(nodes);
    dirs.push(node(`d${String(d).padStart(5, '0')}`, { type: 'dir', mode: 0o20000000755, subtree }));
  }
  const tree = await repo.saveTree(dirs);
  await repo.flush();
  await repo.saveSnapshot({ time: T, tree, paths: ['/data'], hostname: 'memhost' });
  await repo.close();
}

function inCgroup(limit: number, args: string[]): Promise<CgroupResult> {
  return withMemoryCgroup(limit, (cg) =>
    cg.run(process.execPath, [CLI, ...args], {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RESTIC_TS_SCRYPT: TEST_SCRYPT,
      RESTIC_PASSWORD: PASSWORD,
    }),
  );
}

async function expectFits(limit: number, args: string[]): Promise<CgroupResult> {
  const r = await inCgroup(limit, args);
  expect(r.oomKilled, describeRun(r, limit)).toBe(false);
  expect(r.code, describeRun(r, limit)).toBe(0);
  return r;
}

describe('read commands: memory independent of the snapshot size', () => {
  const repos = { small: '', big: '', blobs: '', index: '' };
  beforeAll(async () => {
    const h = findHierarchy();
    if (typeof h === 'string') throw new Error(h);
    tmp = tempDir('restic-ts-memwalk-');
    repos.small = path.join(tmp.dir, 'small');
    repos.big = path.join(tmp.dir, 'big');
    repos.blobs = path.join(tmp.dir, 'blobs');
    const shared = (i: number) => `shared content ${i % 16}\n`;
    await makeRepo(repos.small, 20_000, shared);
    await makeRepo(repos.big, 200_000, shared);
    await makeRepo(repos.blobs, 100_000, (i) => `file ${i}\n`);
    repos.index = path.join(tmp.dir, 'index');
    await makeRepo(repos.index, 200_000, (i) => `distinct ${i}\n`);
  }, 180_000);

  afterAll(() => tmp?.cleanup());

  it('ls --json and check: ten times the files in the same memory', async () => {
    for (const args of [['ls', '--json', 'latest'], ['check']]) {
      const small = await expectFits(LIMIT_WALK, ['-r', repos.small, ...args]);
      const big = await expectFits(LIMIT_WALK, ['-r', repos.big, ...args]);
      if (small.peakBytes !== null && big.peakBytes !== null) expect(big.peakBytes - small.peakBytes).toBeLessThan(GROWTH);
      if (args[0] === 'ls') {
        expect(small.stdout.split('\n').filter(Boolean)).toHaveLength(1 + 20_000 + 40);
        expect(big.stdout.split('\n').filter(Boolean)).toHaveLength(1 + 200_000 + 400);
      } else expect(big.stdout).toContain('no errors were found');
    }
  }, 120_000);

  it('check, check --read-data and restore --dry-run of one index file listing about 200,000 blobs', async () => {
    // restic's layout: one index file lists (nearly) every data blob; restic's files hold up to 150,000
    const repo = await Repository.open(new LocalBackend(repos.index), PASSWORD);
    const perFile: number[] = [];
    for (const name of fs.readdirSync(path.join(repos.index, 'index'))) {
      perFile.push(decodeIndex(await repo.loadUnpacked('index', name)).packs.reduce((n, p) => n + p.blobs.length, 0));
    }
    await repo.close();
    expect(Math.max(...perFile)).toBeGreaterThanOrEqual(150_000);
    for (const args of [['check'], ['check', '--read-data']]) {
      const checked = await expectFits(LIMIT_READ, ['-r', repos.index, ...args]);
      expect(checked.stdout).toContain('no errors were found');
    }
    const target = path.join(tmp.dir, 'target');
    const restored = await expectFits(LIMIT_READ, ['-r', repos.index, 'restore', '--dry-run', 'latest', '--target', target]);
    expect(restored.stdout).toMatch(/Summary: Restored 200400 files\/dirs/);
  }, 120_000);

  it('check --read-data of a pack of 100,000 blobs', async () => {
    const r = await expectFits(LIMIT_READ, ['-r', repos.blobs, 'check', '--read-data']);
    expect(r.stdout).toContain('no errors were found');
  }, 120_000);
});
