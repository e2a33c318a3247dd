/** Archiver behaviour that needs no restic binary: change detection against the parent snapshot. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backup, type ArchiverFs } from '../../src/index.js';
import { nodeFs } from '../../src/archiver/fs.js';
import { generateTree, pseudoRandom } from '../helpers/gentree.js';

const KDF = { N: 1024, r: 8, p: 1 };
let tmp: { dir: string; cleanup: () => void };
let src: string;

/** The real file system, counting the files opened for reading. */
function countingFs(): ArchiverFs & { opened: string[] } {
  const opened: string[] = [];
  return { ...nodeFs, opened, open: (p) => (opened.push(p.toString()), nodeFs.open(p)) };
}

beforeAll(() => {
  // The tree is backed up by a path relative to the working directory, as restic allows, so the
  // snapshot holds no intermediate nodes for /tmp, whose metadata other test files change.
  const dir = fs.mkdtempSync(path.join(process.cwd(), '.tmp-archiver-'));
  tmp = { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  src = path.relative(process.cwd(), path.join(tmp.dir, 'src'));
  generateTree(src, { bigFileSize: 3 * 1024 * 1024 });
});
afterAll(() => tmp.cleanup());

describe('change detection against the parent snapshot', () => {
  it('re-backup of an unchanged tree reads no file and yields the same tree; a change re-reads only that file', async () => {
    const repo = await Repository.init(new LocalBackend(path.join(tmp.dir, 'repo')), 'pw', { version: 2, kdf: KDF });
    const first = countingFs();
    const r1 = await backup(repo, [src], { hostname: 'h', fs: first });
    expect(first.opened.length).toBeGreaterThan(200);
    expect(r1.snapshot.parent).toBeUndefined();

    const second = countingFs();
    const r2 = await backup(repo, [src], { hostname: 'h', fs: second });
    expect(second.opened).toEqual([]);
    expect(r2.snapshot.parent).toBe(r1.snapshotId);
    expect(r2.snapshot.tree).toBe(r1.snapshot.tree);
    expect(r2.stats.filesUnmodified).toBe(r1.stats.filesNew);
    expect(r2.stats.dataAdded).toBe(0);

    const changed = path.join(src, 'dir2', 'sub0', 'file5.txt');
    fs.writeFileSync(changed, pseudoRandom('changed', 12345));
    const third = countingFs();
    const r3 = await backup(repo, [src], { hostname: 'h', fs: third });
    expect(third.opened).toEqual([changed]);
    expect(r3.stats.filesChanged).toBe(1);
    expect(r3.snapshot.tree).not.toBe(r1.snapshot.tree);

    const forced = countingFs();
    await backup(repo, [src], { hostname: 'h', fs: forced, parent: false });
    expect(forced.opened.length).toBe(first.opened.length);

    const otherHost = countingFs();
    await backup(repo, [src], { hostname: 'other', fs: otherHost });
    expect(otherHost.opened.length).toBe(first.opened.length);
  });
});
