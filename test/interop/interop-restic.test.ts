/**
 * Interop with the real restic 0.14 binary: restic accepts what restic-ts writes
 * (check --read-data, restore, snapshots --json) and restic-ts reads what restic writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { diffTrees, generateTree } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';
import { LocalBackend, Repository } from '../../src/index.js';

const PASSWORD = 'correct horse battery staple';
let tmp: ReturnType<typeof tempDir>;
let src: string;

beforeAll(() => {
  tmp = tempDir();
  src = path.join(tmp.dir, 'src');
  generateTree(src);
});
afterAll(() => tmp.cleanup());

/** Every blob listed in the index loads and verifies (MAC, decompression, SHA-256). */
async function verifyAllBlobs(repoPath: string, password: string): Promise<number> {
  const repo = await Repository.open(new LocalBackend(repoPath), password);
  await repo.loadIndex();
  let n = 0;
  for (const pack of repo.index.allPacks()) {
    for (const b of pack.blobs) {
      await repo.loadBlob(b.type, b.id);
      n++;
    }
  }
  return n;
}

describe.each([
  { version: '1', compression: 'auto' },
  { version: '2', compression: 'auto' },
  { version: '2', compression: 'max' },
])('restic-ts writes, restic reads (v$version, compression $compression)', ({ version, compression }) => {
  it('passes restic check --read-data, restores identically and lists our snapshot', () => {
    const repo = path.join(tmp.dir, `ours-v${version}-${compression}`);
    const env = { RESTIC_PASSWORD: PASSWORD };
    let r = cli(['-r', repo, 'init', '--repository-version', version], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    r = cli(['-r', repo, 'backup', '--host', 'testhost', '--tag', 'one,two', '--compression', compression, src], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);

    const check = resticOk(repo, PASSWORD, ['check', '--read-data']);
    expect(check).toMatch(/no errors were found/);

    const snaps = JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json']));
    expect(snaps).toHaveLength(1);
    expect(snaps[0].hostname).toBe('testhost');
    expect(snaps[0].paths).toEqual([src]);
    expect(snaps[0].tags).toEqual(['one', 'two']);

    const target = path.join(tmp.dir, `restore-ours-v${version}-${compression}`);
    resticOk(repo, PASSWORD, ['restore', 'latest', '--target', target]);
    expect(diffTrees(src, path.join(target, src))).toEqual([]);
    fs.rmSync(target, { recursive: true, force: true });
  });
});

describe.each([
  { version: '1', compression: 'auto' },
  { version: '2', compression: 'auto' },
])('restic writes, restic-ts reads (v$version)', ({ version, compression }) => {
  it('lists, restores byte-identically and verifies every blob', async () => {
    const repo = path.join(tmp.dir, `restic-v${version}`);
    resticOk(repo, PASSWORD, ['init', '--repository-version', version]);
    resticOk(repo, PASSWORD, ['backup', '--host', 'resticd', '--compression', compression, src]);
    const env = { RESTIC_PASSWORD: PASSWORD };
    const snaps = cli(['-r', repo, 'snapshots', '--json'], env);
    expect(snaps.code).toBe(0);
    const list = JSON.parse(snaps.stdout);
    expect(list).toHaveLength(1);
    expect(list[0].hostname).toBe('resticd');
    const target = path.join(tmp.dir, `restore-restic-v${version}`);
    const r = cli(['-r', repo, 'restore', 'latest', '--target', target], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(diffTrees(src, path.join(target, src), { mtimeToleranceNs: 1000n })).toEqual([]);
    expect(await verifyAllBlobs(repo, PASSWORD)).toBeGreaterThan(200);
  });
});
