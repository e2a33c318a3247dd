/**
 * rebuild-index / repair index on repositories restic-ts wrote: a lost index, a damaged
 * index file and --read-all-packs all end in a repository restic 0.14 checks clean
 * (--read-data) with every old index file replaced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';
import { type History, PASSWORD, buildHistory, copyRepo, listFiles } from '../helpers/prune-setup.js';
import { LocalBackend, Repository, rebuildIndex } from '../../src/index.js';

const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let h: History;

beforeAll(async () => {
  tmp = tempDir('restic-ts-rebuild-');
  h = await buildHistory(tmp.dir, { states: 3, files: 16 });
});
afterAll(() => tmp.cleanup());
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

const tick = () => new Promise((r) => setImmediate(r));
const indexFiles = (repo: string) => listFiles(path.join(repo, 'index'));

describe('rebuild-index', () => {
  it('recreates a lost index from pack headers (repair index alias)', async () => {
    const repo = path.join(tmp.dir, 'lost');
    copyRepo(h.repo, repo);
    for (const f of indexFiles(repo)) fs.rmSync(path.join(repo, 'index', f));
    const broken = cli(['-r', repo, 'check'], env);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/not referenced in any index/);
    expect(broken.stderr).toMatch(/error for tree/);

    const r = cli(['-r', repo, 'repair', 'index'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^adding pack file to index [0-9a-f]{64}$/m);
    expect(indexFiles(repo)).toHaveLength(1);
    await tick();
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    expect(cli(['-r', repo, 'check'], env).code).toBe(0);
  });

  it('replaces a damaged index file and leaves no obsolete index behind', async () => {
    const repo = path.join(tmp.dir, 'damaged');
    copyRepo(h.repo, repo);
    const old = indexFiles(repo);
    expect(old.length).toBe(3);
    fs.writeFileSync(path.join(repo, 'index', old[0]!), 'garbage');
    await tick();
    expect(restic(repo, PASSWORD, ['check']).code).not.toBe(0);
    const r = cli(['-r', repo, 'rebuild-index'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^removing invalid index ${old[0]}: `, 'm'));
    const now = indexFiles(repo);
    expect(now.some((f) => old.includes(f))).toBe(false);
    await tick();
    const check = resticOk(repo, PASSWORD, ['check', '--read-data']);
    expect(check).toMatch(/no errors were found/);
    expect(check).not.toMatch(/several indexes|not referenced/);
  });

  it('--read-all-packs (library) indexes exactly the packs present', async () => {
    const repo = path.join(tmp.dir, 'read-all');
    copyRepo(h.repo, repo);
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    let result;
    try {
      result = await rebuildIndex(r, { readAllPacks: true });
    } finally {
      await r.close();
    }
    const packs = listFiles(path.join(repo, 'data')).map((f) => path.basename(f));
    expect(result.packsRead.sort()).toEqual(packs.sort());
    expect(result.invalidPacks).toEqual([]);
    expect(result.removedIndexes).toHaveLength(3);
    await tick();
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
  });
});
