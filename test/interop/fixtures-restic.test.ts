/**
 * restic's own test repositories (2015-era v1 repos with mixed packs, default layout,
 * N=128 keys) open, list and restore exactly as restic restores them.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { diffTrees } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';
import { LocalBackend, Repository } from '../../src/index.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/restic-testdata');
const PASSWORD = 'geheim';
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

function extract(name: string): string {
  const dir = path.join(tmp.dir, name);
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('tar', ['xzf', path.join(FIXTURES, `${name}.tar.gz`), '-C', dir]);
  return path.join(dir, 'repo');
}

describe.each(['small-repo', 'repo-mixed', 'repo-layout-default'])('fixture %s', (name) => {
  it('opens, verifies every blob and restores every snapshot as restic does', async () => {
    const repoPath = extract(name);
    const repo = await Repository.open(new LocalBackend(repoPath), PASSWORD);
    expect(repo.version).toBe(1);
    await repo.loadIndex();
    let blobs = 0;
    for (const pack of repo.index.allPacks()) {
      for (const b of pack.blobs) {
        await repo.loadBlob(b.type, b.id);
        blobs++;
      }
    }
    expect(blobs).toBeGreaterThan(0);
    const snapshots = await repo.listSnapshots();
    expect(snapshots.length).toBeGreaterThan(0);

    const listed = JSON.parse(cli(['-r', repoPath, 'snapshots', '--json'], { RESTIC_PASSWORD: PASSWORD }).stdout);
    expect(listed.map((s: { id: string }) => s.id).sort()).toEqual(snapshots.map((s) => s.id).sort());

    for (const { id } of snapshots) {
      const ours = path.join(tmp.dir, `${name}-${id}-ours`);
      const theirs = path.join(tmp.dir, `${name}-${id}-restic`);
      const r = cli(['-r', repoPath, 'restore', id, '--target', ours], { RESTIC_PASSWORD: PASSWORD });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      resticOk(repoPath, PASSWORD, ['restore', id, '--target', theirs]);
      expect(diffTrees(theirs, ours, { mtimeToleranceNs: 1000n })).toEqual([]);
    }
  });
});
