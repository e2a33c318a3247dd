/**
 * `tag` --add/--remove/--set: the same sequence of operations run by restic-ts on one copy
 * of a repository and by restic 0.14 on another must leave the same snapshots (tags,
 * order of tags, `original`), and restic must read what we wrote.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local.js';
import { Repository } from '../../src/repository/repository.js';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'tag-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let base: string;
const ids: string[] = [];

type Sn = { id: string; time: string; tags?: string[]; original?: string; hostname: string; paths: string[] };
const snapshots = (repo: string): Sn[] =>
  (JSON.parse(resticOk(repo, PASSWORD, ['--no-lock', 'snapshots', '--json'])) as Sn[]).sort((a, b) => a.time.localeCompare(b.time));
/** what must agree between the two repositories (IDs differ: each save encrypts anew) */
const content = (l: Sn[]) => l.map(({ time, tags, original, hostname, paths }) => ({ time, tags, original, hostname, paths }));

beforeAll(async () => {
  tmp = tempDir('tag-');
  base = path.join(tmp.dir, 'base');
  const repo = await Repository.init(new LocalBackend(base), PASSWORD, { kdf: { N: 1024, r: 8, p: 1 }, workers: 0 });
  const tree = await repo.saveTree([]);
  await repo.flush();
  const specs: Array<[string, string, string[] | undefined]> = [
    ['2025-01-01T10:00:00Z', 'h1', ['a', 'b', 'c']],
    ['2025-01-02T10:00:00Z', 'h1', undefined],
    ['2025-01-03T10:00:00+02:00', 'h2', ['keep']],
    ['2025-01-04T10:00:00Z', 'h2', ['a']],
    ['2025-01-05T10:00:00Z', 'h3', ['x']],
  ];
  for (const [time, hostname, tags] of specs)
    ids.push(await repo.saveSnapshot({ time, tree, paths: ['/data'], hostname, ...(tags ? { tags } : {}) }));
  await repo.close();
});
afterAll(() => tmp.cleanup());

/** Steps as argument lists; `ID:n` stands for the n-th original snapshot ID. */
const STEPS: string[][] = [
  ['tag', '--add', 'new,more', 'ID:1'],
  ['tag', '--remove', 'a', 'ID:0'], // [a b c] → [c b]: restic moves the last tag into the gap
  ['tag', '--add', 'extra', '--tag', 'more'], // the rewritten snapshot again: original stays the first ID
  ['tag', '--set', 's1', '--set', 's2,s3', '--host', 'h2'],
  ['tag', '--remove', 'x', '--add', 'y', '--path', '/data', '--host', 'h3'],
  ['tag', '--add', 'c', '--tag', 'c'], // already there: nothing changes
  ['tag', '--set', '', '--host', 'h1'], // restic 0.14 flattens --set '' to nothing: no change
];

const resolve = (args: string[]) => args.map((a) => (a.startsWith('ID:') ? ids[Number(a.slice(3))]!.slice(0, 10) : a));

describe('tag', () => {
  it('gives the same snapshots as restic after every step, and restic reads them', () => {
    const ours = path.join(tmp.dir, 'ours');
    const theirs = path.join(tmp.dir, 'theirs');
    fs.cpSync(base, ours, { recursive: true });
    fs.cpSync(base, theirs, { recursive: true });
    for (const step of STEPS) {
      const a = cli(['-r', ours, ...resolve(step)], env);
      const b = restic(theirs, PASSWORD, resolve(step));
      expect(a.code, `${step.join(' ')}: ${a.stderr}`).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      expect(a.stdout, step.join(' ')).toBe(b.stdout);
      expect(content(snapshots(ours)), step.join(' ')).toEqual(content(snapshots(theirs)));
    }
    const final = snapshots(ours);
    expect(final).toHaveLength(ids.length);
    // every rewritten snapshot points at its first ID; untouched ones have no original
    const byTime = new Map(final.map((s) => [s.time, s]));
    expect(byTime.get('2025-01-01T10:00:00Z')).toMatchObject({ tags: ['c', 'b'], original: ids[0] });
    expect(byTime.get('2025-01-02T10:00:00Z')).toMatchObject({ tags: ['new', 'more', 'extra'], original: ids[1] });
    expect(byTime.get('2025-01-03T10:00:00+02:00')).toMatchObject({ tags: ['s1', 's2', 's3'], original: ids[2] });
    expect(byTime.get('2025-01-05T10:00:00Z')).toMatchObject({ tags: ['y'], original: ids[4] });
    // old files are gone: only the current snapshot files remain, no locks are left behind
    expect(fs.readdirSync(path.join(ours, 'snapshots')).sort()).toEqual(final.map((s) => s.id).sort());
    expect(fs.readdirSync(path.join(ours, 'locks'))).toEqual([]);
  });

  it('refuses contradictory or empty requests with restic words', () => {
    const repo = path.join(tmp.dir, 'errors');
    fs.cpSync(base, repo, { recursive: true });
    const none = cli(['-r', repo, 'tag'], env);
    expect([none.code, none.stderr]).toEqual([1, 'Fatal: nothing to do!\n']);
    const both = cli(['-r', repo, 'tag', '--set', 'a', '--add', 'b'], env);
    expect([both.code, both.stderr]).toEqual([1, 'Fatal: --set and --add/--remove cannot be given at the same time\n']);
  });

  it('fails with exit code 11 while another process holds a lock', async () => {
    const repoDir = path.join(tmp.dir, 'locked');
    fs.cpSync(base, repoDir, { recursive: true });
    const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD);
    const release = await repo.lock(false);
    try {
      const r = cli(['-r', repoDir, 'tag', '--add', 'z', ids[0]!.slice(0, 8)], env);
      expect(r.code).toBe(11);
      expect(fs.readdirSync(path.join(repoDir, 'snapshots')).sort()).toEqual([...ids].sort());
    } finally {
      await release();
      await repo.close();
    }
  });
});
